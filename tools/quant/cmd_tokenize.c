/* cmd_tokenize.c — `quant tokenize`: token ids of a text (as llama.cpp's llama-tokenize). */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "quant/tokenizer.h"

int cmd_tokenize(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant tokenize --tokenizer DIR|tokenizer.json|tok.bin [--vocab-size N] (--text FILE | --prompt TEXT)\n"
             "                      [--bos True|False] [--ids-out FILE (JSON list)] [--specials True (print the special ids)]");
        return 0;
    }
    const char *tp = args_str(a, "tokenizer", NULL), *text_path = args_str(a, "text", NULL);
    const char *prompt = args_str(a, "prompt", NULL), *out = args_str(a, "ids-out", NULL);
    long vocab;
    int bos, specials;
    if (args_int(a, "vocab-size", 0, 0, 1 << 22, &vocab, err) || args_bool(a, "bos", 0, &bos, err) ||
        args_bool(a, "specials", 0, &specials, err))
        return 2;
    if (args_finish(a, err)) return 2;
    if (!tp) return qerr_set(err, "--tokenizer is required"), 2;
    if (!text_path == !prompt) return qerr_set(err, "give exactly one of --text FILE and --prompt TEXT"), 2;
    Tokenizer *t;
    size_t n = strlen(tp);
    int rc = n > 4 && strcmp(tp + n - 4, ".bin") == 0
                 ? (vocab > 0 ? tokenizer_load_llama2c(&t, tp, (int32_t)vocab, err)
                              : qerr_set(err, "%s: a llama2.c tokenizer needs --vocab-size", tp))
                 : tokenizer_load_hf(&t, tp, err);
    if (rc) return 1;
    if (specials) { /* what the config files resolve to (tokenizer.h tokenizer_hf_model_stops) */
        printf("specials: {\"bos\": %d, \"eos\": %d, \"unk\": %d, \"pad\": %d, \"add_bos\": %d, \"stops\": [", t->bos_id,
               t->eos_id, t->unk_id, t->pad_id, t->add_bos);
        if (t->n_stop == 0 && t->eos_id >= 0) printf("%d", t->eos_id);
        for (int i = 0; i < t->n_stop; i++) printf(i ? ", %d" : "%d", t->stop_ids[i]);
        printf("]}\n");
    }
    uint8_t *text = NULL;
    size_t len;
    if (text_path) {
        if (qfile_read_all(text_path, &text, &len, err)) {
            tokenizer_free(t);
            return 1;
        }
    } else {
        text = (uint8_t *)xstrdup(prompt);
        len = strlen(prompt);
    }
    int32_t *ids;
    int64_t k;
    double t0 = qtime_now();
    rc = tokenizer_encode(t, (const char *)text, len, bos, &ids, &k, err);
    double dt = qtime_now() - t0;
    if (rc == 0) {
        size_t dl;
        char *back = tokenizer_decode(t, ids, k, &dl);
        int same = dl == len && memcmp(back, text, len) == 0;
        printf("%s tokenizer (%d tokens): %zu bytes -> %lld ids in %.2f s; decode(encode(text)) %s the text\n",
               t->vt->kind, t->vocab_size, len, (long long)k, dt, same ? "==" : "!=");
        if (!text_path) {
            for (int64_t i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
            printf("\n");
        }
        free(back);
        if (out) {
            QWriter w;
            rc = qwriter_open(&w, out, err);
            char buf[16];
            for (int64_t i = 0; rc == 0 && i < k; i++) {
                int m = snprintf(buf, sizeof buf, "%s%d", i ? "," : "[", ids[i]);
                rc = qwriter_write(&w, buf, (size_t)m, err);
            }
            if (rc == 0) rc = qwriter_write(&w, k ? "]" : "[]", k ? 1 : 2, err);
            if (rc == 0) rc = qwriter_commit(&w, err);
            else qwriter_abort(&w);
        }
        free(ids);
    }
    free(text);
    tokenizer_free(t);
    return rc ? 1 : 0;
}
