/* llm_config.c — LlmConfig from a Hugging Face config.json (GPT2LMHeadModel, LlamaForCausalLM). */
#include "quant/llm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Integer field: absent -> def (def < 0 means required). */
static int jint(const cJSON *o, const char *key, long def, long *out, const char *path, QErr *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (def < 0) return qerr_set(err, "%s: missing \"%s\"", path, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > 1e9)
        return qerr_set(err, "%s: \"%s\" is not a non-negative integer", path, key);
    *out = (long)v->valuedouble;
    return 0;
}

static double jnum(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int jbool(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *jstr(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* rope_scaling: null, absent or {"rope_type"|"type": "default"} is plain RoPE; any other type
 * (linear, dynamic, yarn, llama3, longrope, ...) changes the frequencies in ways quant does
 * not implement, so it is refused by name. */
static int check_rope_scaling(const cJSON *root, const char *path, QErr *err) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return 0;
    const char *ty = cJSON_IsObject(rs) ? jstr(rs, "rope_type") : NULL;
    if (!ty && cJSON_IsObject(rs)) ty = jstr(rs, "type");
    if (ty && strcmp(ty, "default") == 0) return 0;
    return qerr_set(err, "%s: rope_scaling type '%s' is not supported (only plain RoPE: rope_scaling null or \"default\")",
                    path, ty ? ty : "(none given)");
}

/* Epsilon fields must be finite and positive when present. */
static int jeps(const cJSON *o, const char *key, double def, float *out, const char *path, QErr *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = (float)def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1)) 
        return qerr_set(err, "%s: \"%s\" must be a number in (0, 1)", path, key);
    *out = (float)v->valuedouble;
    return 0;
}

/* torch_dtype (or "dtype", newer transformers) is informational: the tensors' own dtypes are
 * what is read.  Still, a value naming no floating type is a sign of a file quant cannot read. */
static int check_dtype(const cJSON *root, const char *path, QErr *err) {
    static const char *const ok[] = {"float32", "float16", "bfloat16", "float", "half", "auto"};
    const char *keys[] = {"torch_dtype", "dtype"};
    for (int k = 0; k < 2; k++) {
        const char *d = jstr(root, keys[k]);
        if (!d) continue;
        int found = 0;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) found |= strcmp(d, ok[i]) == 0;
        if (!found)
            return qerr_set(err, "%s: %s '%s' is not supported (float32, float16 or bfloat16)", path, keys[k], d);
    }
    return 0;
}

static int is_arch(const char *arch, const char *mtype, const char *name, const char *type) {
    return (arch && strcmp(arch, name) == 0) || (!arch && mtype && strcmp(mtype, type) == 0);
}

int llm_config_from_json(LlmConfig *cfg, const char *path, QErr *err) {
    memset(cfg, 0, sizeof *cfg);
    uint8_t *buf;
    size_t len;
    if (qfile_read_all(path, &buf, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return qerr_set(err, "%s: not a JSON object", path);
    }
    int rc = -1;
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const char *arch = cJSON_IsArray(archs) && cJSON_IsString(archs->child) ? archs->child->valuestring : NULL;
    const char *mtype = jstr(root, "model_type");
    long v[8];
    if (check_dtype(root, path, err)) goto done;
    if (is_arch(arch, mtype, "GPT2LMHeadModel", "gpt2")) {
        cfg->arch = LLM_ARCH_GPT2;
        if (jint(root, "n_embd", -1, &v[0], path, err) || jint(root, "n_layer", -1, &v[1], path, err) ||
            jint(root, "n_head", -1, &v[2], path, err) || jint(root, "n_positions", -1, &v[3], path, err) ||
            jint(root, "vocab_size", -1, &v[4], path, err) || jint(root, "n_inner", 0, &v[5], path, err))
            goto done;
        cfg->dim = (int)v[0];
        cfg->n_layers = (int)v[1];
        cfg->n_heads = cfg->n_kv_heads = (int)v[2];
        cfg->max_seq = (int)v[3];
        cfg->vocab_size = (int)v[4];
        /* in long: 4 * n_embd overflows int for n_embd > 2^29 (undefined behaviour) */
        if (!v[5]) v[5] = 4 * v[0];
        if (v[5] > 1 << 20) {
            qerr_set(err, "%s: \"n_inner\" (or 4 x n_embd) is %ld, expected at most %d", path, v[5], 1 << 20);
            goto done;
        }
        cfg->hidden_dim = (int)v[5];
        if (jeps(root, "layer_norm_epsilon", 1e-5, &cfg->norm_eps, path, err)) goto done;
        cfg->shared_head = jbool(root, "tie_word_embeddings", 1);
        const char *act = jstr(root, "activation_function");
        if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0) {
            qerr_set(err, "%s: activation_function \"%s\" is not supported (expected gelu_new)", path, act);
            goto done;
        }
    } else if (is_arch(arch, mtype, "LlamaForCausalLM", "llama") || is_arch(arch, mtype, "MistralForCausalLM", "mistral")) {
        /* Mistral is Llama's architecture plus an optional sliding window (llm_check_context) */
        cfg->arch = LLM_ARCH_LLAMA;
        if (jint(root, "sliding_window", 0, &v[7], path, err)) goto done;
        cfg->sliding_window = (int)v[7];
        if (jint(root, "hidden_size", -1, &v[0], path, err) || jint(root, "num_hidden_layers", -1, &v[1], path, err) ||
            jint(root, "num_attention_heads", -1, &v[2], path, err) ||
            jint(root, "intermediate_size", -1, &v[3], path, err) || jint(root, "vocab_size", -1, &v[4], path, err) ||
            jint(root, "max_position_embeddings", 2048, &v[5], path, err))
            goto done;
        cfg->dim = (int)v[0];
        cfg->n_layers = (int)v[1];
        cfg->n_heads = (int)v[2];
        cfg->hidden_dim = (int)v[3];
        cfg->vocab_size = (int)v[4];
        cfg->max_seq = (int)v[5];
        if (jint(root, "num_key_value_heads", (long)cfg->n_heads, &v[6], path, err)) goto done;
        cfg->n_kv_heads = (int)v[6];
        if (jeps(root, "rms_norm_eps", 1e-6, &cfg->norm_eps, path, err)) goto done;
        cfg->rope_theta = (float)jnum(root, "rope_theta", 10000.0);
        cfg->shared_head = jbool(root, "tie_word_embeddings", 0);
        cfg->rope_interleaved = 0;
        const char *act = jstr(root, "hidden_act");
        if (act && strcmp(act, "silu") != 0) {
            qerr_set(err, "%s: hidden_act \"%s\" is not supported (expected silu)", path, act);
            goto done;
        }
        if (check_rope_scaling(root, path, err)) goto done;
        if (jbool(root, "attention_bias", 0) || jbool(root, "mlp_bias", 0)) {
            qerr_set(err, "%s: %s true is not supported (Llama projections without biases only)", path,
                     jbool(root, "attention_bias", 0) ? "attention_bias" : "mlp_bias");
            goto done;
        }
        if (jint(root, "head_dim", 0, &v[7], path, err)) goto done;
        if (v[7] && cfg->n_heads && v[7] * cfg->n_heads != cfg->dim) {
            qerr_set(err, "%s: head_dim %ld x num_attention_heads %d != hidden_size %d is not supported (quant's "
                     "attention needs head_dim = hidden_size / num_attention_heads)", path, v[7],
                     cfg->n_heads, cfg->dim);
            goto done;
        }
    } else {
        qerr_set(err, "%s: unknown architecture '%s' (supported: GPT2LMHeadModel, LlamaForCausalLM, MistralForCausalLM)", path,
                 arch ? arch : mtype ? mtype : "none given");
        goto done;
    }
    /* Each field in a range a real model can have, so that every product of them below (and in
     * the loaders) fits in 64 bits; the loaders then compare those products with the bytes the
     * safetensors files really hold. */
    if (cfg->dim > 65536 || cfg->hidden_dim > 1 << 20 || cfg->n_layers > 1024 || cfg->n_heads > 4096 ||
        cfg->n_kv_heads > 4096 || cfg->vocab_size > 1 << 22 || cfg->max_seq > 1 << 20) {
        qerr_set(err, "%s: dimensions out of range (dim %d <= 65536, intermediate %d <= %d, layers %d <= 1024, heads %d/%d "
                 "<= 4096, vocab %d <= %d, positions %d <= %d expected)", path, cfg->dim, cfg->hidden_dim, 1 << 20,
                 cfg->n_layers, cfg->n_heads, cfg->n_kv_heads, cfg->vocab_size, 1 << 22, cfg->max_seq, 1 << 20);
        goto done;
    }
    cfg->tie_given = cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings"));
    if (cfg->dim <= 0 || cfg->n_layers <= 0 || cfg->n_heads <= 0 || cfg->n_kv_heads <= 0 || cfg->vocab_size <= 0 ||
        cfg->hidden_dim <= 0 || cfg->max_seq <= 0 || cfg->dim % cfg->n_heads || cfg->n_heads % cfg->n_kv_heads) {
        qerr_set(err, "%s: inconsistent dimensions (dim %d, heads %d, kv heads %d, layers %d, vocab %d)", path, cfg->dim,
                 cfg->n_heads, cfg->n_kv_heads, cfg->n_layers, cfg->vocab_size);
        goto done;
    }
    if (!(cfg->norm_eps >= 0) || !isfinite(cfg->norm_eps) ||
        (cfg->arch == LLM_ARCH_LLAMA && (!(cfg->rope_theta > 0) || !isfinite(cfg->rope_theta)))) {
        qerr_set(err, "%s: norm epsilon %g / rope_theta %g: expected finite, non-negative / positive numbers", path,
                 cfg->norm_eps, cfg->rope_theta);
        goto done;
    }
    if (cfg->arch == LLM_ARCH_LLAMA && (cfg->dim / cfg->n_heads) % 2) {
        qerr_set(err, "%s: head size %d is odd (RoPE needs pairs)", path, cfg->dim / cfg->n_heads);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}
