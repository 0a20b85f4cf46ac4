/* actrange.c — static per-tensor activation ranges for W8A8, chosen on each linear input's
 * output error over the calibration windows (llm_ptq.h, qact_range_search in src/quant).
 *
 * Min-max over the calibration windows spends an 8-bit grid on the few largest values a
 * heavy-tailed input ever takes (SwiGLU's output feeding ffn-down is the case: after SmoothQuant
 * its RMS is about a tenth of its range), and every further window only widens it. The search
 * keeps min-max when nothing narrower lowers the site's output error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/llm_ptq.h"

int llm_act_ranges_search(const LlmModel *m, const LlmCalib *c, int bits, int nratio, int64_t max_rows, LlmActStats *st,
                          float *ratio, QErr *err) {
    const LlmConfig *cf = &m->c;
    const int L = cf->n_layers, D = cf->dim, S = c->seq_len;
    if (S > cf->max_seq) return qerr_set(err, "calibration windows of %d tokens exceed the model's context %d", S, cf->max_seq);
    if (st->n_layers != L) return qerr_set(err, "activation ranges: statistics of %d blocks for a model of %d", st->n_layers, L);
    int nw = c->n;
    if (max_rows > 0 && (int64_t)nw * S > max_rows) nw = (int)(max_rows / S > 0 ? max_rows / S : 1);
    const size_t rows = (size_t)nw * S;
    float *Xs = xmalloc(rows * D * sizeof(float)), *Xb = xmalloc(rows * D * sizeof(float));
    for (int i = 0; i < nw; i++) llm_embed(m, c->tokens + (size_t)i * S, S, 0, Xs + (size_t)i * S * D);
    float *cap[LLM_N_SITES];
    for (int s = 0; s < LLM_N_SITES; s++) cap[s] = xmalloc(rows * (s == LLM_SITE_DOWN ? cf->hidden_dim : D) * sizeof(float));
    for (int l = 0; l < L; l++) {
        memcpy(Xb, Xs, rows * D * sizeof(float));
        llm_block_windows(m, l, Xb, nw, S, cap);
        LlmLinear lin[LLM_MAX_LINEARS];
        int nl = llm_block_linears((LlmModel *)m, l, lin);
        for (int s = 0; s < LLM_N_SITES; s++) {
            QSite site = {.in = s == LLM_SITE_DOWN ? cf->hidden_dim : D};
            for (int k = 0; k < nl && site.nw < QSITE_MAX_W; k++)
                if ((int)lin[k].site == s) {
                    site.W[site.nw] = lin[k].w;
                    site.out[site.nw++] = lin[k].out;
                }
            if (site.nw == 0) continue;
            LlmSiteStats *ss = &st->s[l * LLM_N_SITES + s];
            float lo, hi;
            qact_range_search(&site, cap[s], (int64_t)rows, bits, nratio, &lo, &hi, NULL);
            if (ratio) {
                float lo0 = 0, hi0 = 0;
                for (size_t i = 0; i < rows * (size_t)site.in; i++) {
                    lo0 = fminf(lo0, cap[s][i]);
                    hi0 = fmaxf(hi0, cap[s][i]);
                }
                ratio[l * LLM_N_SITES + s] = fmaxf(hi0 > 0 ? hi / hi0 : 0, lo0 < 0 ? lo / lo0 : 0);
            }
            ss->lo = lo;
            ss->hi = hi;
        }
        llm_block_windows(m, l, Xs, nw, S, NULL);
    }
    for (int s = 0; s < LLM_N_SITES; s++) free(cap[s]);
    free(Xs);
    free(Xb);
    return 0;
}
