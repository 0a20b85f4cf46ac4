/* model_arg.c — see model_arg.h. */
#include "model_arg.h"

#include <stdlib.h>

#include "quant/hub.h"

void model_arg_read(Args *a, ModelArg *m) {
    m->model = args_str(a, "model", NULL);
    m->name = args_str(a, "model-name", NULL);
    m->revision = args_str(a, "revision", "main");
    m->owned = NULL;
}

int model_arg_resolve(ModelArg *m, const char **path, QErr *err) {
    *path = m->model;
    if (!m->name) return 0;
    if (m->model) return qerr_set(err, "give --model or --model_name, not both");
    HubOpts o = {m->revision, 0, 0};
    if (hub_resolve(m->name, &o, &m->owned, err)) return -1;
    *path = m->owned;
    return 0;
}

void model_arg_free(ModelArg *m) {
    free(m->owned);
    m->owned = NULL;
}
