/* fuzz_args.c — the CLI flag parser (tools/quant/args.c): the input is argv, NUL-separated;
 * every accessor is called on it the way the commands do.  Numbers outside their range are
 * errors, never values. */
#include "fuzz_common.h"
#include "../../tools/quant/args.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    char *argv[65];
    int argc = 0;
    argv[argc++] = (char *)"cmd";
    for (size_t i = 0; i <= size && argc < 64;) {
        argv[argc++] = s + i;
        i += strlen(s + i) + 1;
    }
    argv[argc] = NULL;
    Args a;
    QErr err;
    if (args_parse(&a, argc, argv, &err) == 0) {
        long v, *list = NULL;
        double d;
        int b, n = 0;
        char **sl = NULL;
        if (args_int(&a, "bits", 4, 2, 8, &v, &err) == 0 && (v < 2 || v > 8)) fz_fail("bits %ld", v);
        if (args_double(&a, "lr", 1e-3, 0, 1, &d, &err) == 0 && !(d >= 0 && d <= 1)) fz_fail("lr %g", d);
        args_bool(&a, "verbose", 0, &b, &err);
        if (args_int_list(&a, "hidden", "8,4", 1, 4096, &list, &n, &err) == 0)
            for (int i = 0; i < n; i++)
                if (list[i] < 1 || list[i] > 4096) fz_fail("hidden %ld", list[i]);
        free(list);
        if (args_str_list(&a, "methods", "rtn,gptq", &sl, &n, &err) == 0) args_free_list(sl, n);
        (void)args_str(&a, "model", NULL);
        (void)args_has(&a, "help");
        args_finish(&a, &err);
    }
    args_free(&a);
    free(s);
    return 0;
}
