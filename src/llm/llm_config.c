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
    if ((arch && strcmp(arch, "GPT2LMHeadModel") == 0) || (!arch && mtype && strcmp(mtype, "gpt2") == 0)) {
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
        cfg->norm_eps = (float)jnum(root, "layer_norm_epsilon", 1e-5);
        cfg->shared_head = jbool(root, "tie_word_embeddings", 1);
        const char *act = jstr(root, "activation_function");
        if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0) {
            qerr_set(err, "%s: activation_function \"%s\" is not supported (expected gelu_new)", path, act);
            goto done;
        }
    } else if ((arch && strcmp(arch, "LlamaForCausalLM") == 0) || (!arch && mtype && strcmp(mtype, "llama") == 0)) {
        cfg->arch = LLM_ARCH_LLAMA;
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
        cfg->norm_eps = (float)jnum(root, "rms_norm_eps", 1e-6);
        cfg->rope_theta = (float)jnum(root, "rope_theta", 10000.0);
        cfg->shared_head = jbool(root, "tie_word_embeddings", 0);
        cfg->rope_interleaved = 0;
        const char *act = jstr(root, "hidden_act");
        if (act && strcmp(act, "silu") != 0) {
            qerr_set(err, "%s: hidden_act \"%s\" is not supported (expected silu)", path, act);
            goto done;
        }
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
        if (rs && !cJSON_IsNull(rs)) {
            qerr_set(err, "%s: rope_scaling is not supported", path);
            goto done;
        }
        if (jbool(root, "attention_bias", 0) || jbool(root, "mlp_bias", 0)) {
            qerr_set(err, "%s: attention_bias/mlp_bias are not supported", path);
            goto done;
        }
        if (jint(root, "head_dim", 0, &v[7], path, err)) goto done;
        if (v[7] && cfg->n_heads && v[7] * cfg->n_heads != cfg->dim) {
            qerr_set(err, "%s: head_dim %ld x num_attention_heads %d != hidden_size %d is not supported", path, v[7],
                     cfg->n_heads, cfg->dim);
            goto done;
        }
    } else {
        qerr_set(err, "%s: unknown architecture '%s' (supported: GPT2LMHeadModel, LlamaForCausalLM)", path,
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
