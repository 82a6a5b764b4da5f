// The JavaScript half of regex_browser.cc (linked with --js-library): FLY patterns translated
// into RegExp, compiled RegExps kept by id, and split / replaceAll / matches with Java's rules.
// Results cross to C++ as one malloc'ed block (regex_browser.cc describes it).
mergeInto(LibraryManager.library, {
  volo_regex_compile__deps: ['malloc'],
  volo_regex_apply__deps: ['malloc'],
  volo_regex_compile: function(pattern, error) {
    const table = Module.flyRegexes || (Module.flyRegexes = {next: 1, live: new Map()});
    const p = UTF8ToString(pattern);
    const fail = (text) => {
      const n = lengthBytesUTF8(text) + 1;
      const buf = _malloc(n);
      stringToUTF8(text, buf, n);
      HEAPU32[error >> 2] = buf;
      return 0;
    };
    const posix = {alnum: "0-9A-Za-z", alpha: "A-Za-z", ascii: "\\x00-\\x7f", blank: " \\t",
                   cntrl: "\\x00-\\x1f\\x7f", digit: "0-9", graph: "!-~", lower: "a-z",
                   print: " -~", punct: "!-\\/:-@\\[-`{-~", space: "\\t\\n\\v\\f\\r ",
                   upper: "A-Z", word: "0-9A-Za-z_", xdigit: "0-9A-Fa-f"};
    let out = "", flags = "", unicode = false, inClass = false, k = 0;
    const lead = /^\(\?([imsU]+)\)/.exec(p);
    if (lead) {
      for (const f of lead[1]) {
        if (f === "U") return fail("regular expression '" + p + "': the (?U) flag is not supported in the playground");
        if (!flags.includes(f)) flags += f;
      }
      k = lead[0].length;
    }
    for (; k < p.length; ++k) {
      const c = p[k];
      if (c === "\\" && k + 1 < p.length) {
        const n = p[k + 1];
        if (!inClass && n >= "1" && n <= "9") {
          return fail("regular expression '" + p + "': backreferences (\\" + n + ") are not supported (FLY regular expressions are RE2: no backreferences or lookaround)");
        }
        if (!inClass && n === "k" && p[k + 2] === "<") {
          return fail("regular expression '" + p + "': backreferences (\\k<name>) are not supported (FLY regular expressions are RE2: no backreferences or lookaround)");
        }
        if (n === "Q") {
          const e = p.indexOf("\\E", k + 2);
          const lit = p.substring(k + 2, e < 0 ? p.length : e);
          out += lit.replace(/[\\^$.*+?()[\]{}|\/-]/g, "\\$&");
          k = e < 0 ? p.length : e + 1;
          continue;
        }
        if (n === "p" || n === "P") {
          unicode = true;
          if (p[k + 2] !== "{" && k + 2 < p.length) {  // \pL: one-letter class name
            out += "\\" + n + "{" + p[k + 2] + "}";
            k += 2;
            continue;
          }
        }
        if (!inClass && n === "A") { out += "^"; ++k; continue; }
        if (!inClass && n === "z") { out += "$"; ++k; continue; }
        out += c + n;
        ++k;
        continue;
      }
      if (inClass) {
        if (c === "[" && p[k + 1] === ":") {
          const close = p.indexOf(":]", k + 2);
          const name = close < 0 ? "" : p.substring(k + 2, close);
          if (posix[name] === undefined) {
            return fail("bad regular expression '" + p + "': invalid character class range: [:" + name + ":]");
          }
          out += posix[name];
          k = close + 1;
          continue;
        }
        if (c === "]") inClass = false;
        out += c === "[" ? "\\[" : c;
        continue;
      }
      if (c === "[") {
        inClass = true;
        out += c;
        if (p[k + 1] === "^") out += p[++k];
        if (p[k + 1] === "]") { out += "\\]"; ++k; }
        continue;
      }
      if (c === "(" && p[k + 1] === "?") {
        const rest = p.substring(k + 2);
        if (rest.startsWith("=") || rest.startsWith("!") || rest.startsWith("<=") || rest.startsWith("<!")) {
          return fail("regular expression '" + p + "': lookaround " + p.substr(k, rest.startsWith("<") ? 4 : 3) + "...) is not supported (FLY regular expressions are RE2: no backreferences or lookaround)");
        }
        if (rest.startsWith("P<")) { out += "(?<"; k += 2; continue; }
        if (/^[imsU-]+\)/.test(rest)) {
          return fail("regular expression '" + p + "': the playground takes inline flags like (?i) only at the start of the pattern");
        }
      }
      out += c;
    }
    let re;
    try {
      re = new RegExp(out, flags + (unicode ? "gu" : "g"));
    } catch (e) {
      return fail("bad regular expression '" + p + "': " + e.message);
    }
    const probe = new RegExp(out + "|", flags + (unicode ? "u" : "")).exec("");
    const id = table.next++;
    table.live.set(id, {re: re, groups: probe.length - 1, names: probe.groups ? Object.keys(probe.groups) : [], unicode: unicode});
    return id;
  },

  volo_regex_free: function(id) {
    Module.flyRegexes.live.delete(id);
  },

  // mode 0: split; 1: replaceAll with `replacement`; 2: whole-string match (count 1 or 0).
  volo_regex_apply: function(id, text_utf8, text_len, repl_utf8, mode) {
    const r = Module.flyRegexes.live.get(id);
    const s = UTF8ToString(text_utf8, text_len);
    const pack = (count, pieces) => {
      const enc = new TextEncoder();
      const bytes = pieces.map((x) => enc.encode(x));
      let total = 4 + 4 * bytes.length;
      for (const b of bytes) total += b.length;
      const buf = _malloc(total);
      HEAP32[buf >> 2] = count;
      let at = buf + 4 + 4 * bytes.length;
      bytes.forEach((b, i) => {
        HEAP32[(buf >> 2) + 1 + i] = b.length;
        HEAPU8.set(b, at);
        at += b.length;
      });
      return buf;
    };
    // Past one whole character (a surrogate pair counts as one), as an empty match moves on.
    const step = (at) => {
      const c = s.charCodeAt(at);
      return at + (c >= 0xd800 && c < 0xdc00 && at + 1 < s.length ? 2 : 1);
    };
    const re = r.re;
    if (mode === 2) {
      const whole = new RegExp("^(?:" + re.source + ")$", re.flags.replace("g", ""));
      return pack(whole.test(s) ? 1 : 0, []);
    }
    const repl = mode === 1 ? UTF8ToString(repl_utf8) : "";
    const parts = [];
    let out = "", search = 0, last = 0, m;
    while (search <= s.length) {
      re.lastIndex = search;
      m = re.exec(s);
      if (!m) break;
      const ms = m.index, me = ms + m[0].length;
      if (mode === 0) {
        if (me === ms) {
          if (ms >= s.length) break;
          if (ms > 0) { parts.push(s.substring(last, ms)); last = ms; }
          search = step(ms);
          continue;
        }
        parts.push(s.substring(last, ms));
        last = me;
        search = me;
        continue;
      }
      out += s.substring(last, ms);
      for (let k = 0; k < repl.length; ++k) {
        const c = repl[k];
        if (c === "\\") {
          if (k + 1 === repl.length) return pack(-1, ["replaceAll: the replacement ends with a lone '\\' (write \\\\ for a backslash)"]);
          out += repl[++k];
          continue;
        }
        if (c !== "$") { out += c; continue; }
        let value;
        if (repl[k + 1] === "{") {
          const close = repl.indexOf("}", k + 2);
          const name = repl.substring(k + 2, close < 0 ? repl.length : close);
          if (close < 0 || !r.names.includes(name)) return pack(-1, ["replaceAll: the pattern has no group named '" + name + "'"]);
          value = m.groups[name];
          k = close;
        } else if (k + 1 < repl.length && repl[k + 1] >= "0" && repl[k + 1] <= "9") {
          let g = repl.charCodeAt(++k) - 48;
          while (k + 1 < repl.length && repl[k + 1] >= "0" && repl[k + 1] <= "9" && g * 10 + (repl.charCodeAt(k + 1) - 48) <= r.groups) {
            g = g * 10 + (repl.charCodeAt(++k) - 48);
          }
          if (g > r.groups) return pack(-1, ["replaceAll: no group $" + g + " in the pattern (it has " + r.groups + ")"]);
          value = m[g];
        } else {
          return pack(-1, ["replaceAll: '$' must be followed by a group number or {name} (write \\$ for a dollar sign)"]);
        }
        if (value !== undefined) out += value;
      }
      last = me;
      search = me === ms ? step(me) : me;
      if (me === ms && me < s.length) {
        out += s.substring(me, search);
        last = search;
      }
    }
    if (mode === 0) {
      if (parts.length === 0) return pack(1, [s]);
      parts.push(s.substring(last));
      while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
      return pack(parts.length, parts);
    }
    if (last < s.length) out += s.substring(last);
    return pack(1, [out]);
  },
});
