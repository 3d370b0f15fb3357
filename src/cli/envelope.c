/* envelope.c — the one JSON envelope of every command's --json output:
 * command, version, model, processing, seconds, then the command's own keys
 * (README "JSON output"), from what args.c recorded as the command ran. */
#include "circuitc/process.h"
#include "cli.h"

json_t *cli_processing_steps(bool processed)
{
    const char *names[4];
    const cc_config gpt2 = {0};
    int n = processed ? cc_processing_steps(cli_run()->has_cfg ? &cli_run()->cfg : &gpt2, names) : 0;
    json_t *steps = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(steps, json_string(names[i]));
    return steps;
}

int cli_print_result(json_t *body)
{
    if (!body) return cli_print_json(NULL);
    const cli_run_state *run = cli_run();
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:f}", "command", run->command ? run->command : "?", "version",
                          CIRCUITC_VERSION, "model", cli_json_path(run->model), "processing",
                          cli_processing_steps(run->processed && run->model), "seconds", cli_run_seconds());
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value)
        if (j && !json_object_get(j, key)) json_object_set(j, key, value);
    json_decref(body);
    return cli_print_json(j);
}
