/* testutil.h — helpers shared by the Check suites. */
#ifndef CIRCUITC_TESTUTIL_H
#define CIRCUITC_TESTUTIL_H

#include <check.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh temporary folder (under $TMPDIR), removed by tu_rmtree. */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);

/* Writes LEN bytes to PATH; aborts the test on failure. */
void tu_write_file(const char *path, const void *data, size_t len);

/* Reads PATH whole; *len gets its size. Caller frees. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Builds a safetensors image from a header JSON text and LEN_DATA data bytes
 * (filled with a pattern). Caller frees. */
uint8_t *tu_st_image(const char *header, size_t len_data, size_t *len_out);

/* Runs the circuitc binary ($CIRCUITC_BIN) with ARGV (NULL-terminated, without
 * argv[0]); captures stdout and stderr. Returns the exit status (or 128+signal). */
typedef struct {
    int status;
    char *out;
    char *err;
    double seconds;
    long max_rss_kb;
} tu_run_result;
tu_run_result tu_run(const char *const *argv);
void tu_run_free(tu_run_result *r);

/* Parses TEXT as JSON; fails the test (showing TEXT) if it is not. Caller decrefs. */
json_t *tu_parse_json(const char *text);

/* The JSON stdout of R, which must have exited 0 (else fails showing stderr). Caller decrefs. */
json_t *tu_parse_ok(tu_run_result *r);

/* What stderr ERR says: the text itself, or, when it is the JSON error of a
 * command run with --json, its error.message (docs/json.md). Caller frees. */
char *tu_error_text(const char *err);

/* Asserts that R exited with STATUS, printed nothing on stdout and NEEDLE on
 * stderr; frees R. */
void tu_expect_fail(tu_run_result r, int status, const char *needle);

/* Asserts that message MSG contains NEEDLE, printing both otherwise. */
#define tu_assert_contains(msg, needle) \
    ck_assert_msg(strstr((msg), (needle)) != NULL, "expected \"%s\" in: %s", (needle), (msg))

/* A fresh temporary folder holding `circuitc synth --preset tiny --seed SEED`
 * (remove it with tu_rmtree). Caller frees. */
char *tu_tiny_model(const char *seed);

/* A byte-level vocabulary.json text (caller frees): the 256 byte tokens as
 * GPT-2 spells them (printable Latin-1 as itself, the rest from U+0100), then
 * the tokens of the JSON object EXTRA (e.g. "{\"ab\": 256}"). */
char *tu_byte_vocab(const char *extra);

/* The bundled fixture model's folder, as the library finds it
 * (cc_default_model_path); kept for the whole process. */
const char *tu_fixture_model(void);

/* Runs SUITE and returns a process exit status. */
int tu_run_suite(Suite *s);

#endif
