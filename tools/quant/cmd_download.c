/* cmd_download.c — `quant download --model_name NAME`: fetch a model into the Hugging Face
 * cache (or find it there) and print its directory.  `quant download --dataset ORG/NAME
 * --split S`: the same for a dataset split's parquet files (dataset.h), printing the cached
 * files; --text-out FILE also writes the split's text as ptq-llm reads it. */
#include "cmd.h"
#include "dataset_arg.h"
#include "model_arg.h"

static int download_dataset(Args *a, DatasetArg *da, QErr *err) {
    const char *split = args_str(a, "split", "test"), *out = args_str(a, "text-out", NULL);
    if (args_finish(a, err) || dataset_arg_check(da, err)) return 2;
    DatasetText t;
    if (dataset_arg_text(da, split, &t, err)) return 1;
    int rc = 0;
    for (int i = 0; i < t.split.n_files; i++) printf("%s\n", t.split.paths[i]);
    char desc[2048];
    dataset_text_describe(da, &t, "text", desc, sizeof desc);
    qlog("%s", desc);
    if (out) {
        QWriter w;
        rc = qwriter_open(&w, out, err);
        if (rc == 0 && qwriter_write(&w, t.text, t.len, err) == 0) rc = qwriter_commit(&w, err);
        else if (rc == 0) qwriter_abort(&w), rc = -1;
        rc = rc ? 1 : 0;
    }
    dataset_text_free(&t);
    return rc;
}

int cmd_download(Args *a, QErr *err) {
    if (args_has(a, "help")) {
        puts("usage: quant download --model_name ORG/NAME [--revision main]\n"
             "       quant download --dataset ORG/NAME [--dataset-config C] [--split test] [--dataset-revision main]\n"
             "                      [--dataset-join raw|guide] [--text-out FILE]   (default Salesforce/wikitext, wikitext-2-raw-v1)\n"
             "  cache: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub; server: $HF_ENDPOINT; token: $HF_TOKEN;\n"
             "  HF_HUB_OFFLINE=1 only looks in the cache");
        return 0;
    }
    DatasetArg da;
    dataset_arg_read(a, &da);
    if (da.given) {
        if (args_has(a, "model-name")) return qerr_set(err, "give --model_name or --dataset, not both"), 2;
        return download_dataset(a, &da, err);
    }
    ModelArg ma;
    model_arg_read(a, &ma);
    if (args_finish(a, err)) return 2;
    if (!ma.name) return qerr_set(err, "--model_name (or --dataset) is required"), 2;
    const char *dir;
    if (model_arg_resolve(&ma, &dir, err)) {
        model_arg_free(&ma);
        return 1;
    }
    printf("%s\n", dir);
    model_arg_free(&ma);
    return 0;
}
