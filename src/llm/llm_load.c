/* llm_load.c — open a model and its tokenizer from what the user named (llm.h). */
#include <string.h>

#include "quant/llm.h"
#include "quant/llm_gguf.h"
#include "quant/llm_qfile.h"
#include "quant/llm_open.h"

static int load(LlmModel *m, const char *path, int widen, QErr *err) {
    if (qpath_is_dir(path)) return llm_load_hf(m, path, err);
    if (!qpath_exists(path)) {
        memset(m, 0, sizeof *m);
        return qerr_set(err, "%s: no such file or directory", path);
    }
    if (llm_qfile_detect(path)) return llm_load_qfile(m, path, err);
    if (gguf_detect(path)) {
        int quantized;
        return widen ? llm_load_gguf_fp32(m, path, &quantized, err) : llm_load_gguf(m, path, &quantized, err);
    }
    size_t n = strlen(path);
    if (n > 12 && strcmp(path + n - 12, ".safetensors") == 0) {
        /* A Hugging Face model is named by its directory (config.json + tensors); quant's own
         * quantized .safetensors files were recognised above by their metadata. */
        memset(m, 0, sizeof *m);
        return qerr_set(err, "%s: a lone .safetensors file; pass the model directory (with config.json) instead", path);
    }
    return llm_load_llama2c(m, path, err);
}

int llm_load(LlmModel *m, const char *path, QErr *err) { return load(m, path, 0, err); }

int llm_load_fp32(LlmModel *m, const char *path, QErr *err) { return load(m, path, 1, err); }

int llm_tokenizer_is_hf(const char *p) {
    size_t n = strlen(p);
    return qpath_is_dir(p) || (n > 5 && strcmp(p + n - 5, ".json") == 0);
}

static int open_hf_tokenizer(const LlmModel *m, const char *tp, Tokenizer **tok, QErr *err) {
    char probe[4200], probe2[4200];
    snprintf(probe, sizeof probe, "%s/tokenizer.json", tp);
    snprintf(probe2, sizeof probe2, "%s/vocab.json", tp);
    if (!qpath_exists(tp) || (qpath_is_dir(tp) && !qpath_exists(probe) && !qpath_exists(probe2)))
        return qerr_set(err, "%s: no tokenizer found (expected tokenizer.json or vocab.json + merges.txt)", tp);
    if (tokenizer_load_hf(tok, tp, err)) return -1;
    if ((*tok)->vocab_size > m->c.vocab_size) {
        qerr_set(err, "%s: the tokenizer has %d tokens but the model only %d", tp, (*tok)->vocab_size, m->c.vocab_size);
        tokenizer_free(*tok);
        *tok = NULL;
        return -1;
    }
    return 0;
}

int llm_open(const char *model_path, const char *tok_path, LlmModel *m, Tokenizer **tok, QErr *err) {
    *tok = NULL;
    if (!model_path) return qerr_set(err, "--model is required (a llama2.c .bin checkpoint or a Hugging Face directory)");
    if (llm_load(m, model_path, err)) return -1;
    if (llm_open_tokenizer(model_path, tok_path, m, tok, err)) {
        llm_free(m);
        return -1;
    }
    return 0;
}

int llm_open_tokenizer(const char *model_path, const char *tok_path, const LlmModel *m, Tokenizer **tok, QErr *err) {
    *tok = NULL;
    int hf = 0;
    char guess[4096];
    if (qpath_is_dir(model_path)) { /* Hugging Face: the tokenizer is in the model directory */
        hf = 1;
        snprintf(guess, sizeof guess, "%s/tok%d.bin", model_path, m->c.vocab_size);
        if (!tok_path && qpath_exists(guess)) { /* a llama2.c vocabulary written beside a GPTQ export */
            tok_path = guess;
            hf = 0;
        }
        if (!tok_path) tok_path = model_path;
    } else if (tok_path) {
        hf = llm_tokenizer_is_hf(tok_path);
    } else if (gguf_detect(model_path)) { /* GGUF: the tokenizer is in the file's metadata */
        if (tokenizer_load_gguf(tok, model_path, err)) return -1;
        if ((*tok)->vocab_size > m->c.vocab_size) {
            tokenizer_free(*tok);
            *tok = NULL;
            return qerr_set(err, "%s: the tokenizer has more tokens than the model", model_path);
        }
        return 0;
    } else {
        /* beside the checkpoint: llama2.c's tok<vocab>.bin or tokenizer.bin, or (a quantized
         * Hugging Face model) tokenizer.json / vocab.json + merges.txt */
        const char *slash = strrchr(model_path, '/');
        int dirlen = slash ? (int)(slash - model_path) : 1;
        const char *dir = slash ? model_path : ".";
        char tj[4200], vj[4200];
        snprintf(guess, sizeof guess, "%.*s/tok%d.bin", dirlen, dir, m->c.vocab_size);
        if (!qpath_exists(guess)) snprintf(guess, sizeof guess, "%.*s/tokenizer.bin", dirlen, dir);
        snprintf(tj, sizeof tj, "%.*s/tokenizer.json", dirlen, dir);
        snprintf(vj, sizeof vj, "%.*s/vocab.json", dirlen, dir);
        if (!qpath_exists(guess) && (qpath_exists(tj) || qpath_exists(vj))) {
            snprintf(guess, sizeof guess, "%.*s", dirlen, dir);
            hf = 1;
        } else if (!qpath_exists(guess)) {
            return qerr_set(err, "%s: no tokenizer given and none found beside the model (tried tok%d.bin, tokenizer.bin, "
                            "tokenizer.json, vocab.json); pass --tokenizer FILE", model_path, m->c.vocab_size);
        }
        tok_path = guess;
    }
    if (hf ? open_hf_tokenizer(m, tok_path, tok, err) : tokenizer_load_llama2c(tok, tok_path, m->c.vocab_size, err))
        return -1;
    /* a Hugging Face model's own generation_config.json / config.json name its stop tokens,
     * also when the tokenizer was taken from elsewhere */
    if (hf && qpath_is_dir(model_path) && strcmp(tok_path, model_path) != 0 && tokenizer_hf_model_stops(*tok, model_path, err)) {
        tokenizer_free(*tok);
        *tok = NULL;
        return -1;
    }
    return 0;
}
