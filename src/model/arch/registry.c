/* registry.c — the families circuitc reads, and finding a config's family. */
#include "../arch.h"

#include <string.h>

extern const arch_family arch_gpt2, arch_gpt_neo, arch_gpt_neox, arch_llama, arch_transformer_lens;

/* Indexed by cc_family. */
const arch_family *const arch_families[] = {
    [CC_FAMILY_GPT2] = &arch_gpt2,           [CC_FAMILY_GPT_NEO] = &arch_gpt_neo,
    [CC_FAMILY_GPT_NEOX] = &arch_gpt_neox,   [CC_FAMILY_LLAMA] = &arch_llama,
    [CC_FAMILY_TL] = &arch_transformer_lens,
};
const int arch_n_families = CC_N_FAMILIES;
_Static_assert(sizeof arch_families / sizeof arch_families[0] == CC_N_FAMILIES, "one description per family");

const arch_family *arch_family_get(cc_family f)
{
    return (unsigned)f < CC_N_FAMILIES ? arch_families[f] : NULL;
}

/* Whether TYPE is one of the "|"-separated names in LIST. */
static bool listed(const char *list, const char *type)
{
    size_t n = strlen(type);
    for (const char *p = list; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && strncmp(p, type, n) == 0) return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

int arch_family_of(json_t *root, const char *path, const arch_family **out, cc_error *err)
{
    json_t *type = json_object_get(root, "model_type");
    if (type && !json_is_null(type) && !json_is_string(type))
        return cc_fail_code(err, CC_E_FORMAT, "%s: field \"model_type\" must be a string (\"gpt2\", \"gpt_neo\", \"gpt_neox\", "
                            "\"llama\", ...)", path);
    if (!type || json_is_null(type)) {
        /* TransformerLens' config has no model_type; GPT-2 configs without one are GPT-2's */
        bool tl = json_object_get(root, "d_model") && json_object_get(root, "n_layers");
        *out = tl ? &arch_transformer_lens : &arch_gpt2;
        return 0;
    }
    const char *name = json_string_value(type);
    for (int i = 0; i < CC_N_FAMILIES; i++)
        if (arch_families[i]->model_type && listed(arch_families[i]->model_type, name)) {
            *out = arch_families[i];
            return 0;
        }
    return cc_fail_code(err, CC_E_UNSUPPORTED, "%s: model_type \"%s\" is not supported; circuitc reads gpt2, gpt_neo, gpt_neox, llama "
                        "(and mistral, qwen2 without their extras) and TransformerLens exports "
                        "(docs/architectures.md); OPT, GPT-J, Gemma, Phi and the rest are not",
                   path, name);
}
