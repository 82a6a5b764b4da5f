// FLY syntax highlighting for CodeMirror 6: a small stream tokenizer over the lexer's rules
// (src/fly/lexer.h): keywords, type names, numbers, strings, // # and /* */ comments, and the
// channel operators `!` and `?`.
import { StreamLanguage, StringStream } from "@codemirror/language";
import { tags } from "@lezer/highlight";

const keywords = new Set([
  "var", "const", "func", "return", "if", "else", "for", "in", "by", "row", "col", "delimeter",
  "while", "fly", "async", "on", "then", "thenall", "native", "require", "sort", "asc", "desc",
  "print", "println", "and", "or", "not", "as", "parse", "time", "execution_environment",
  "square", "break", "continue",
]);
const atoms = new Set(["true", "false", "null"]);
const types = new Set([
  "String", "Integer", "Date", "Dat", "Object", "Double", "Matrix", "ArrayList", "Array", "Math",
]);

interface State {
  inComment: boolean;
}

function token(stream: StringStream, state: State): string | null {
  if (state.inComment) {
    if (stream.skipTo("*/")) {
      stream.next();
      stream.next();
      state.inComment = false;
    } else {
      stream.skipToEnd();
    }
    return "comment";
  }
  if (stream.eatSpace()) return null;
  if (stream.match("//") || stream.match("#")) {
    stream.skipToEnd();
    return "comment";
  }
  if (stream.match("/*")) {
    state.inComment = true;
    return token(stream, state) ?? "comment";
  }
  const ch = stream.peek();
  if (ch === '"') {
    stream.next();
    let escaped = false;
    for (let c = stream.next(); c !== undefined; c = stream.next()) {
      if (c === '"' && !escaped) break;
      escaped = !escaped && c === "\\";
    }
    return "string";
  }
  if (stream.match(/^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/)) return "number";
  if (stream.match(/^[A-Za-z$][A-Za-z0-9_$]*/)) {
    const word = stream.current();
    if (keywords.has(word)) return "keyword";
    if (atoms.has(word)) return "atom";
    if (types.has(word)) return "typeName";
    if (stream.match(/^\s*\(/, false)) return "callee";
    return "variableName";
  }
  if (stream.match(/^[!?]/)) return "operator";
  if (stream.match(/^[-+*/%<>=&|^]+/)) return "operator";
  stream.next();
  return null;
}

export const fly = StreamLanguage.define<State>({
  name: "fly",
  startState: () => ({ inComment: false }),
  token,
  tokenTable: { callee: tags.function(tags.variableName) },
  languageData: { commentTokens: { line: "//", block: { open: "/*", close: "*/" } } },
});
