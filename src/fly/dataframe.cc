#include "fly/dataframe.h"

#include <fstream>
#include <sstream>

namespace volo::fly {

namespace {

// Splits one CSV record (RFC 4180 quoting) starting at *pos; advances *pos past its end.
std::vector<std::string> Record(const std::string& text, size_t* pos, char sep, bool* quoted_any) {
  std::vector<std::string> fields;
  std::string field;
  bool in_quotes = false, was_quoted = false;
  size_t p = *pos;
  for (; p < text.size(); ++p) {
    char c = text[p];
    if (in_quotes) {
      if (c == '"') {
        if (p + 1 < text.size() && text[p + 1] == '"') {
          field += '"';
          ++p;
        } else {
          in_quotes = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      in_quotes = true;
      was_quoted = true;
    } else if (c == sep) {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      ++p;
      break;
    } else if (c != '\r') {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  *pos = p;
  *quoted_any = was_quoted;
  return fields;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool IsInt(const std::string& s, int64_t* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(s.c_str(), &end, 10);
  if (*end != 0 || errno != 0) return false;
  *v = n;
  return true;
}

bool IsDouble(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (*end != 0) return false;
  *v = d;
  return true;
}

}  // namespace

std::shared_ptr<const Table> ParseCsv(const std::string& text, char separator, bool header,
                                      std::string* error) {
  auto table = std::make_shared<Table>();
  std::vector<std::vector<std::string>> raw;
  size_t pos = 0;
  int line = 0;
  while (pos < text.size()) {
    bool quoted;
    auto rec = Record(text, &pos, separator, &quoted);
    ++line;
    if (rec.size() == 1 && rec[0].empty() && !quoted) continue;  // blank line
    for (auto& f : rec) f = Trim(f);
    if (header && table->columns.empty()) {
      table->columns = std::move(rec);
      continue;
    }
    if (table->columns.empty()) {
      for (size_t c = 0; c < rec.size(); ++c) table->columns.push_back("C" + std::to_string(c));
    }
    if (rec.size() != table->columns.size()) {
      *error = "CSV line " + std::to_string(line) + " has " + std::to_string(rec.size()) +
               " fields, expected " + std::to_string(table->columns.size());
      return nullptr;
    }
    raw.push_back(std::move(rec));
  }
  size_t ncols = table->columns.size();
  std::vector<Cell::Kind> kinds(ncols, Cell::kInt);
  for (size_t c = 0; c < ncols; ++c) {
    for (const auto& r : raw) {
      int64_t i;
      double d;
      if (r[c].empty()) continue;
      if (kinds[c] == Cell::kInt && !IsInt(r[c], &i)) kinds[c] = Cell::kDouble;
      if (kinds[c] == Cell::kDouble && !IsDouble(r[c], &d)) {
        kinds[c] = Cell::kString;
        break;
      }
    }
  }
  table->rows.reserve(raw.size());
  for (auto& r : raw) {
    std::vector<Cell> cells(ncols);
    for (size_t c = 0; c < ncols; ++c) {
      Cell& cell = cells[c];
      if (r[c].empty() && kinds[c] != Cell::kString) continue;  // null
      cell.kind = kinds[c];
      if (kinds[c] == Cell::kInt) {
        IsInt(r[c], &cell.i);
      } else if (kinds[c] == Cell::kDouble) {
        IsDouble(r[c], &cell.d);
      } else {
        cell.s = std::move(r[c]);
      }
    }
    table->rows.push_back(std::move(cells));
  }
  return table;
}

std::shared_ptr<const Table> LoadCsv(const std::string& path, char separator, bool header,
                                     std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open CSV file '" + path + "'";
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto t = ParseCsv(ss.str(), separator, header, error);
  if (!t) *error = path + ": " + *error;
  return t;
}

}  // namespace volo::fly
