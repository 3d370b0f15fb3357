/* test_heads.c — head-name parsing: both spellings, limits, and bad input. */
#include <string.h>

#include "circuitc/heads.h"
#include "testutil.h"

static const cc_config GPT2 = {.n_layers = 12, .n_heads = 12};

START_TEST(parses_both_spellings)
{
    cc_head h;
    cc_error err;
    ck_assert_int_eq(cc_head_parse("L4H11", &GPT2, &h, &err), 0);
    ck_assert(h.layer == 4 && h.head == 11);
    ck_assert_int_eq(cc_head_parse("4.11", &GPT2, &h, &err), 0);
    ck_assert(h.layer == 4 && h.head == 11);
    ck_assert_int_eq(cc_head_parse("l0h0", &GPT2, &h, &err), 0);
    ck_assert(h.layer == 0 && h.head == 0);
    char buf[16];
    ck_assert_str_eq(cc_head_name((cc_head){5, 5}, buf, sizeof buf), "L5H5");
}
END_TEST

START_TEST(rejects_malformed)
{
    const char *bad[] = {"", "L", "L4", "L4H", "H4L1", "4", "4.", ".4", "4.11.2", "L4H11x", "L-1H2",
                         "-1.2", "4,11", "L4 H11", "L9999999H1", "L4H1e1", "4.1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cc_head h;
        cc_error err;
        ck_assert_msg(cc_head_parse(bad[i], &GPT2, &h, &err) == -1, "accepted \"%s\"", bad[i]);
        tu_assert_contains(err.msg, "L<layer>H<head>");
    }
}
END_TEST

START_TEST(rejects_out_of_range_naming_limits)
{
    cc_head h;
    cc_error err;
    ck_assert_int_eq(cc_head_parse("L12H0", &GPT2, &h, &err), -1);
    tu_assert_contains(err.msg, "layers 0..11");
    ck_assert_int_eq(cc_head_parse("3.12", &GPT2, &h, &err), -1);
    tu_assert_contains(err.msg, "heads 0..11");
    ck_assert_int_eq(cc_head_parse("L11H11", &GPT2, &h, &err), 0);
    /* without a config only the syntax is checked */
    ck_assert_int_eq(cc_head_parse("L40H40", NULL, &h, &err), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heads");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parses_both_spellings);
    tcase_add_test(tc, rejects_malformed);
    tcase_add_test(tc, rejects_out_of_range_naming_limits);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
