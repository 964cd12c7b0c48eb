#include "tests/server_it/json.h"

#include <cctype>

namespace it {
namespace {

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  bool Document(Json* out, std::string* err) {
    Space();
    bool ok = Value(out, 0) && (Space(), i_ == s_.size() || Fail("text after the value"));
    if (!ok && err) *err = why_ + " at offset " + std::to_string(i_);
    return ok;
  }

 private:
  bool Fail(const char* why) {
    if (why_.empty()) why_ = why;
    return false;
  }
  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      i_++;
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      i_++;
      return true;
    }
    return false;
  }
  bool Word(const char* w) {
    const std::string word(w);
    if (s_.compare(i_, word.size(), word) != 0) return Fail("unexpected characters");
    i_ += word.size();
    return true;
  }
  bool Digits() {
    size_t start = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) i_++;
    return i_ > start;
  }

  bool Value(Json* v, int depth) {
    if (depth > 64) return Fail("nested too deep");
    if (i_ >= s_.size()) return Fail("unexpected end");
    switch (s_[i_]) {
      case '{': return Object(v, depth);
      case '[': return Array(v, depth);
      case '"': v->type = Json::kString; return String(&v->text);
      case 't': v->type = Json::kBool; v->boolean = true; return Word("true");
      case 'f': v->type = Json::kBool; v->boolean = false; return Word("false");
      case 'n': v->type = Json::kNull; return Word("null");
      default: return Number(v);
    }
  }

  bool Number(Json* v) {
    size_t start = i_;
    Eat('-');
    if (Eat('0')) {
      if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])))
        return Fail("a number with a leading zero");
    } else if (!Digits()) {
      return Fail("not a value");
    }
    if (Eat('.') && !Digits()) return Fail("no digits after the decimal point");
    if ((Eat('e') || Eat('E')) && ((Eat('+') || Eat('-')), !Digits()))
      return Fail("no digits in the exponent");
    v->type = Json::kNumber;
    v->text = s_.substr(start, i_ - start);
    return true;
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  static void Utf8(unsigned cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  bool Hex4(unsigned* cp) {
    if (i_ + 4 > s_.size()) return Fail("a short \\u escape");
    *cp = 0;
    for (int k = 0; k < 4; k++) {
      int h = Hex(s_[i_++]);
      if (h < 0) return Fail("a bad \\u escape");
      *cp = *cp * 16 + static_cast<unsigned>(h);
    }
    return true;
  }

  bool String(std::string* out) {
    out->clear();
    if (!Eat('"')) return Fail("expected a string");
    for (;;) {
      if (i_ >= s_.size()) return Fail("an unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return Fail("a raw control character in a string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) return Fail("an unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          unsigned cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {  // a surrogate pair
            unsigned lo = 0;
            if (!Eat('\\') || !Eat('u') || !Hex4(&lo) || lo < 0xdc00 || lo > 0xdfff)
              return Fail("a lone surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return Fail("a lone surrogate");
          }
          Utf8(cp, out);
          break;
        }
        default: return Fail("an unknown escape");
      }
    }
  }

  bool Array(Json* v, int depth) {
    v->type = Json::kArray;
    Eat('[');
    Space();
    if (Eat(']')) return true;
    for (;;) {
      v->items.emplace_back();
      Space();
      if (!Value(&v->items.back(), depth + 1)) return false;
      Space();
      if (Eat(']')) return true;
      if (!Eat(',')) return Fail("expected ',' or ']'");
    }
  }

  bool Object(Json* v, int depth) {
    v->type = Json::kObject;
    Eat('{');
    Space();
    if (Eat('}')) return true;
    for (;;) {
      std::string key;
      Space();
      if (!String(&key)) return false;
      if (v->Get(key) != nullptr) return Fail("a member name given twice");
      Space();
      if (!Eat(':')) return Fail("expected ':'");
      Space();
      v->members.emplace_back(key, Json());
      if (!Value(&v->members.back().second, depth + 1)) return false;
      Space();
      if (Eat('}')) return true;
      if (!Eat(',')) return Fail("expected ',' or '}'");
    }
  }

  const std::string& s_;
  size_t i_ = 0;
  std::string why_;
};

}  // namespace

const Json* Json::Get(const std::string& key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

bool ParseJson(const std::string& in, Json* out, std::string* err) {
  *out = Json();
  return Parser(in).Document(out, err);
}

}  // namespace it
