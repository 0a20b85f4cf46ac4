/* test_llm_safetensors.c — safetensors writer/reader round trip and rejection of corrupt files. */
#include "test.h"

#include <stdint.h>

#include "quant/safetensors.h"

static char path_buf[512];
static const char *tpath(const char *name) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", test_tmpdir(), name);
    return path_buf;
}

static void write_raw(const char *path, const char *hdr, size_t data_len) {
    FILE *f = fopen(path, "wb");
    uint64_t n = strlen(hdr);
    fwrite(&n, 8, 1, f);
    fwrite(hdr, 1, n, f);
    for (size_t i = 0; i < data_len; i++) fputc(0, f);
    fclose(f);
}

TEST(round_trip) {
    float a[6] = {1, -2, 3.5f, 4, 5, -6};
    uint16_t b[4] = {qf32_to_bf16(1.5f), qf32_to_bf16(-2.25f), qf32_to_bf16(0.0f), qf32_to_bf16(1e3f)};
    uint16_t h[3] = {qf32_to_f16(0.5f), qf32_to_f16(-3.0f), qf32_to_f16(65504.0f)};
    int8_t c[5] = {-128, -1, 0, 1, 127};
    StWriteTensor t[4] = {{"a", ST_F32, 2, {2, 3}, a}, {"b.bf16", ST_BF16, 1, {4}, b}, {"h", ST_F16, 2, {3, 1}, h},
                          {"codes", ST_I8, 1, {5}, c}};
    const char *mk[2] = {"format", "quant.scheme"}, *mv[2] = {"pt", "w4g32"};
    QErr err = {{0}};
    const char *p = tpath("rt.safetensors");
    CHECK(st_write(p, t, 4, mk, mv, 2, &err) == 0);
    Safetensors st;
    CHECK_MSG(st_open(&st, p, &err) == 0, "%s", err.msg);
    CHECK(st.ntensors == 4);
    /* the header length is a multiple of 8 so the data area stays aligned */
    CHECK((st.tensors[0].data - st.shards[0].map.data) % 8 == 0);
    const StTensor *ta = st_find(&st, "a"), *tb = st_find(&st, "b.bf16"), *th = st_find(&st, "h"),
                   *tc = st_find(&st, "codes");
    CHECK(ta && tb && th && tc && !st_find(&st, "nope"));
    if (ta && tb && th && tc) {
        CHECK(ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && ta->dtype == ST_F32);
        float out[6];
        CHECK(st_to_f32(ta, out, &err) == 0);
        for (int i = 0; i < 6; i++) CHECK(out[i] == a[i]);
        CHECK(st_to_f32(tb, out, &err) == 0);
        CHECK(out[0] == 1.5f && out[1] == -2.25f && out[2] == 0.0f && out[3] == 1000.0f);
        CHECK(st_to_f32(th, out, &err) == 0);
        CHECK(out[0] == 0.5f && out[1] == -3.0f && out[2] == 65504.0f);
        CHECK(tc->dtype == ST_I8 && memcmp(tc->data, c, 5) == 0);
        CHECK(st_to_f32(tc, out, &err) == -1);
    }
    CHECK(st_meta(&st, "quant.scheme") && strcmp(st_meta(&st, "quant.scheme"), "w4g32") == 0);
    CHECK(st_meta(&st, "missing") == NULL);
    st_close(&st);
}

static void expect_fail(const char *name, const char *hdr, size_t data_len, const char *needle) {
    const char *p = tpath(name);
    write_raw(p, hdr, data_len);
    Safetensors st;
    QErr err = {{0}};
    int rc = st_open(&st, p, &err);
    CHECK_MSG(rc == -1, "%s accepted", name);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: '%s' lacks '%s'", name, err.msg, needle);
    if (rc == 0) st_close(&st);
}

TEST(corrupt_files) {
    expect_fail("past_end.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past the data area");
    expect_fail("size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, "needs 12");
    expect_fail("overlap.st",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                16, "overlap");
    expect_fail("dtype.st", "{\"a\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "dtype");
    expect_fail("huge.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1000000000000,1000000000000],\"data_offsets\":[0,4]}}", 4,
                "shape too large");
    expect_fail("json.st", "{\"a\":{\"dtype\":", 0, "JSON");
    expect_fail("backwards.st", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 8, "begin <= end");
    /* header length larger than the file: truncated */
    const char *p = tpath("trunc.st");
    FILE *f = fopen(p, "wb");
    uint64_t n = 1000;
    fwrite(&n, 8, 1, f);
    fputs("{}", f);
    fclose(f);
    Safetensors st;
    QErr err = {{0}};
    CHECK(st_open(&st, p, &err) == -1);
    CHECK(strstr(err.msg, "exceeds the file") != NULL);
    f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    CHECK(st_open(&st, p, &err) == -1);
    CHECK(strstr(err.msg, "too short") != NULL);
}

TEST(sharded_index) {
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    StWriteTensor ta = {"x.a", ST_F32, 1, {2}, a}, tb = {"x.b", ST_F32, 1, {3}, b};
    QErr err = {{0}};
    char dir[400];
    snprintf(dir, sizeof dir, "%s/sharded", test_tmpdir());
    CHECK(qmkdir_p(dir, &err) == 0);
    char p1[600], p2[600], ix[600];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(ix, sizeof ix, "%s/model.safetensors.index.json", dir);
    CHECK(st_write(p1, &ta, 1, NULL, NULL, 0, &err) == 0);
    CHECK(st_write(p2, &tb, 1, NULL, NULL, 0, &err) == 0);
    FILE *f = fopen(ix, "w");
    fputs("{\"metadata\":{},\"weight_map\":{\"x.a\":\"model-00001-of-00002.safetensors\","
          "\"x.b\":\"model-00002-of-00002.safetensors\"}}", f);
    fclose(f);
    Safetensors st;
    CHECK_MSG(st_open_dir(&st, dir, &err) == 0, "%s", err.msg);
    CHECK(st.nshards == 2 && st.ntensors == 2);
    const StTensor *t = st_find(&st, "x.b");
    CHECK(t && t->shard == 1 && ((const float *)t->data)[2] == 5.0f);
    st_close(&st);
    /* an index naming a tensor its shard lacks */
    f = fopen(ix, "w");
    fputs("{\"weight_map\":{\"x.a\":\"model-00001-of-00002.safetensors\",\"x.c\":\"model-00002-of-00002.safetensors\"}}", f);
    fclose(f);
    CHECK(st_open_dir(&st, dir, &err) == -1);
    CHECK(strstr(err.msg, "x.c") != NULL);
    /* an index naming the wrong shard for a tensor that exists */
    f = fopen(ix, "w");
    fputs("{\"weight_map\":{\"x.a\":\"model-00002-of-00002.safetensors\",\"x.b\":\"model-00001-of-00002.safetensors\"}}", f);
    fclose(f);
    CHECK(st_open_dir(&st, dir, &err) == -1);
    CHECK_MSG(strstr(err.msg, "'x.a' is listed in model-00002-of-00002.safetensors but stored in model-00001") != NULL, "%s", err.msg);
}

/* st_find is a binary search over the names: every one of 3000 tensors written in a scrambled
 * order is found with its own data, and names between them are not. */
TEST(find_many) {
    enum { N = 3000 };
    static StWriteTensor t[N];
    static char names[N][16];
    static float v[N];
    for (int i = 0; i < N; i++) {
        int k = (i * 1237) % N; /* 1237 is prime to 3000: a permutation */
        snprintf(names[i], sizeof names[i], "w.%05d", 2 * k);
        v[i] = (float)k;
        t[i] = (StWriteTensor){names[i], ST_F32, 1, {1}, &v[i]};
    }
    QErr err = {{0}};
    CHECK_MSG(st_write(tpath("many.safetensors"), t, N, NULL, NULL, 0, &err) == 0, "%s", err.msg);
    Safetensors st;
    CHECK_MSG(st_open(&st, tpath("many.safetensors"), &err) == 0, "%s", err.msg);
    int found = 0, absent = 0;
    for (int k = 0; k < N; k++) {
        char nm[16];
        snprintf(nm, sizeof nm, "w.%05d", 2 * k);
        const StTensor *x = st_find(&st, nm);
        found += x && *(const float *)x->data == (float)k && strcmp(x->name, nm) == 0;
        snprintf(nm, sizeof nm, "w.%05d", 2 * k + 1);
        absent += st_find(&st, nm) == NULL;
    }
    CHECK(found == N && absent == N);
    CHECK(st_find(&st, "") == NULL && st_find(&st, "w.") == NULL && st_find(&st, "w.99999") == NULL);
    st_close(&st);
}

int main(void) {
    RUN(round_trip);
    RUN(corrupt_files);
    RUN(sharded_index);
    RUN(find_many);
    return test_summary("test_llm_safetensors");
}
