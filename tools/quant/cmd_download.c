/* cmd_download.c — `quant download --model_name NAME`: fetch a model into the Hugging Face
 * cache (or find it there) and print its directory. */
#include "cmd.h"
#include "model_arg.h"

int cmd_download(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant download --model_name ORG/NAME [--revision main]\n"
             "  cache: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub; server: $HF_ENDPOINT; token: $HF_TOKEN;\n"
             "  HF_HUB_OFFLINE=1 only looks in the cache");
        return 0;
    }
    ModelArg ma;
    model_arg_read(a, &ma);
    if (args_finish(a, err)) return 2;
    if (!ma.name) return qerr_set(err, "--model_name is required"), 2;
    const char *dir;
    if (model_arg_resolve(&ma, &dir, err)) {
        model_arg_free(&ma);
        return 1;
    }
    printf("%s\n", dir);
    model_arg_free(&ma);
    return 0;
}
