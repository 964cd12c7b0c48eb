// base/: the list, the clock helpers and strict numbers.
#include <cerrno>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

extern "C" {
#include "base/clock.h"
#include "base/list.h"
#include "base/sbuf.h"
#include "base/strnum.h"
}

namespace {

struct item {
  int v;
  struct list link;
};

std::vector<int> Values(struct list* h) {
  std::vector<int> out;
  struct list *it, *tmp;
  list_for_each_safe(it, tmp, h) out.push_back(list_entry(it, struct item, link)->v);
  return out;
}

TEST(List, PushPopInOrderAndDetach) {
  struct list h = LIST_INIT(h);
  item a{1, {}}, b{2, {}}, c{3, {}};
  list_init(&a.link);
  list_init(&b.link);
  list_init(&c.link);
  EXPECT_TRUE(list_empty(&h));
  EXPECT_FALSE(list_linked(&a.link));
  list_push_back(&h, &a.link);
  list_push_back(&h, &b.link);
  list_push_front(&h, &c.link);
  EXPECT_EQ(Values(&h), (std::vector<int>{3, 1, 2}));
  EXPECT_TRUE(list_linked(&a.link));
  list_del(&a.link);
  EXPECT_FALSE(list_linked(&a.link));
  list_del(&a.link);  // detached: a no-op
  EXPECT_EQ(Values(&h), (std::vector<int>{3, 2}));
  EXPECT_EQ(list_pop_front(&h), &c.link);
  EXPECT_EQ(list_pop_front(&h), &b.link);
  EXPECT_EQ(list_pop_front(&h), nullptr);
  EXPECT_TRUE(list_empty(&h));
}

TEST(List, SpliceMovesEverythingAndEmptiesTheSource) {
  struct list x = LIST_INIT(x), y = LIST_INIT(y);
  item it[4] = {{1, {}}, {2, {}}, {3, {}}, {4, {}}};
  for (auto& i : it) list_init(&i.link);
  list_push_back(&x, &it[0].link);
  list_push_back(&x, &it[1].link);
  list_push_back(&y, &it[2].link);
  list_push_back(&y, &it[3].link);
  list_splice_back(&x, &y);
  EXPECT_TRUE(list_empty(&y));
  EXPECT_EQ(Values(&x), (std::vector<int>{1, 2, 3, 4}));
  list_splice_back(&x, &y);  // empty source: nothing changes
  EXPECT_EQ(Values(&x), (std::vector<int>{1, 2, 3, 4}));
}

TEST(List, DeleteWhileIterating) {
  struct list h = LIST_INIT(h);
  item it[5];
  for (int i = 0; i < 5; i++) {
    it[i].v = i;
    list_init(&it[i].link);
    list_push_back(&h, &it[i].link);
  }
  struct list *p, *tmp;
  list_for_each_safe(p, tmp, &h) if (list_entry(p, struct item, link)->v % 2 == 0) list_del(p);
  EXPECT_EQ(Values(&h), (std::vector<int>{1, 3}));
}

TEST(Clock, AddNormalisesAndNowIsMonotonic) {
  struct timespec ts = {5, 999999999L};
  struct timespec r = clk_add_ms(ts, 1);
  EXPECT_EQ(r.tv_sec, 6);
  EXPECT_EQ(r.tv_nsec, 999999L);
  r = clk_add_ms(ts, 2500);
  EXPECT_EQ(r.tv_sec, 8);
  EXPECT_EQ(r.tv_nsec, 499999999L);
  uint64_t a = clk_now_ns(), b = clk_now_ns();
  EXPECT_LE(a, b);
  struct timespec d = clk_deadline_ms(1000);
  EXPECT_GE(d.tv_nsec, 0);
  EXPECT_LT(d.tv_nsec, 1000000000L);
}

TEST(Strnum, DigitsOnlyWithinRange) {
  uint64_t v = 7;
  EXPECT_EQ(num_parse_u64_str("0", 10, &v), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(num_parse_u64_str("0010", 10, &v), 0);
  EXPECT_EQ(v, 10u);
  EXPECT_EQ(num_parse_u64_str("11", 10, &v), -ERANGE);
  EXPECT_EQ(v, 10u);  // untouched on error
  for (const char* bad : {"", " 1", "1 ", "-1", "+1", "0x10", "1e3", "1.0", "١"})
    EXPECT_EQ(num_parse_u64_str(bad, 1000, &v), -EINVAL) << bad;
  EXPECT_EQ(num_parse_u64_str(nullptr, 1000, &v), -EINVAL);
  EXPECT_EQ(num_parse_u64_str("18446744073709551615", UINT64_MAX, &v), 0);
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_EQ(num_parse_u64_str("18446744073709551616", UINT64_MAX, &v), -ERANGE);
  EXPECT_EQ(num_parse_u64_str("99999999999999999999999999999x", UINT64_MAX, &v), -EINVAL);
  EXPECT_EQ(num_parse_u64("123456", 3, 1000, &v), 0);  // a length, not a NUL
  EXPECT_EQ(v, 123u);
  EXPECT_EQ(num_parse_u64_str("5", 0, &v), -ERANGE);
  EXPECT_EQ(num_parse_u64_str("0", 0, &v), 0);
}

TEST(Sbuf, AppendsFormatsAndResets) {
  struct sbuf b = SBUF_INIT;
  sbuf_puts(&b, "a=");
  sbuf_printf(&b, "%d %s", 42, "x");
  sbuf_append(&b, "\0z", 2);  // binary-safe
  EXPECT_EQ(std::string(b.data, b.len), std::string("a=42 x\0z", 8));
  EXPECT_FALSE(sbuf_failed(&b));
  std::string big(100000, 'q');
  sbuf_printf(&b, "%s", big.c_str());
  EXPECT_EQ(b.len, 8u + big.size());
  EXPECT_EQ(b.data[b.len], '\0');
  size_t cap = b.cap;
  sbuf_reset(&b);
  EXPECT_EQ(b.len, 0u);
  EXPECT_EQ(b.cap, cap) << "reset keeps the memory";
  sbuf_free(&b);
  EXPECT_EQ(b.data, nullptr);
}

}  // namespace
