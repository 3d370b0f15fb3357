/* test_html.c — the interactive pages' file (circuitc/html.h) and the
 * commands' --html option: one self-contained file whose embedded JSON cannot
 * end its script element, written complete or not at all, nothing on stdout
 * when it fails. What the page shows in a browser: tests/html_browser.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "circuitc/html.h"
#include "testutil.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

START_TEST(page_is_self_contained_and_escaped)
{
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/p.html", dir);
    json_t *data = json_pack("{s:[s, s], s:f}", "tokens", "</script><script>alert(1)</script>", "<!--", "v", 0.5);
    cc_error err;
    ck_assert_msg(cc_html_write(path, CC_HTML_TABLES, "a <b> & \"c\"", NULL, data, &err) == 0, "%s", err.msg);
    size_t len;
    char *page = (char *)tu_read_file(path, &len);
    ck_assert_uint_eq(count(page, "</script>"), 2); /* the data element's and the script's own */
    ck_assert_uint_eq(count(page, "<script"), 2);
    tu_assert_contains(page, "\\u003c/script>\\u003cscript>alert(1)\\u003c/script>");
    tu_assert_contains(page, "<title>a &lt;b&gt; &amp; &quot;c&quot;</title>");
    tu_assert_contains(page, "\"view\":\"tables\"");
    tu_assert_contains(page, "default-src 'none'"); /* nothing is fetched */
    ck_assert_ptr_null(strstr(page, "src=\"http"));
    ck_assert_ptr_null(strstr(page, "<link"));
    free(page);

    snprintf(path, sizeof path, "%s/missing/p.html", dir);
    ck_assert_int_eq(cc_html_write(path, CC_HTML_TABLES, "t", NULL, data, &err), -1);
    tu_assert_contains(err.msg, "missing/p.html");
    json_t *list = json_array();
    snprintf(path, sizeof path, "%s/q.html", dir);
    ck_assert_int_eq(cc_html_write(path, CC_HTML_TABLES, "t", NULL, list, &err), -1);
    tu_assert_contains(err.msg, "not a JSON object");
    ck_assert_int_eq(access(path, F_OK), -1);
    json_decref(list);
    json_decref(data);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(html_option_checks_its_path_first)
{
    char *dir = tu_tmpdir(), path[512];
    snprintf(path, sizeof path, "%s/p.txt", dir);
    const char *wrong_ext[] = {"pattern", "L1H0", "--tokens", "511,17,301", "--html", path, NULL};
    tu_expect_fail(tu_run(wrong_ext), 2, "--html takes a file name ending in .html");
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof path, "%s/missing/p.html", dir);
    const char *no_dir[] = {"pattern", "L1H0", "--tokens", "511,17,301", "--html", path, NULL};
    tu_expect_fail(tu_run(no_dir), 1, "missing/p.html");
    snprintf(path, sizeof path, "%s/p.html", dir);
    const char *sweep[] = {"patch", "mlp_out", "--html", path, NULL};
    tu_expect_fail(tu_run(sweep), 2, "--html needs a prompt pair");
    const char *bad_head[] = {"pattern", "L7H0", "--tokens", "511,17,301", "--html", path, NULL};
    tu_expect_fail(tu_run(bad_head), 1, "L7H0");
    ck_assert_int_eq(access(path, F_OK), -1);

    const char *ok[] = {"pattern", "L1H0", "--tokens", "511,17,301", "--html", path, NULL};
    tu_run_result r = tu_run(ok);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "L1H0 attention pattern on 3 tokens");
    size_t len;
    char *page = (char *)tu_read_file(path, &len);
    tu_assert_contains(page, "\"view\":\"pattern\"");
    tu_assert_contains(page, "\"head\":\"L1H3\""); /* every head of the layer */
    free(page);
    tu_run_free(&r);

    /* on the repeated-token sequence: its ids as the tokens */
    const char *repeated[] = {"pattern", "L1H0", "--seq-len", "4", "--html", path, NULL};
    r = tu_run(repeated);
    ck_assert_msg(r.status == 0, "%s", r.err);
    page = (char *)tu_read_file(path, &len);
    tu_assert_contains(page, "\"ids\":[511,");
    ck_assert_uint_eq(count(page, "\"head\":\"L1H"), 4);
    free(page);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("html");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, page_is_self_contained_and_escaped);
    tcase_add_test(tc, html_option_checks_its_path_first);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
