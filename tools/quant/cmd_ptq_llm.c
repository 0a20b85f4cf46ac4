/* cmd_ptq_llm.c — placeholder until this command is implemented (see issues). */
#include "cmd.h"

int cmd_ptq_llm(Args *a, QErr *err) {
    (void)a;
    qerr_set(err, "'ptq_llm' is not implemented yet");
    return 2;
}
