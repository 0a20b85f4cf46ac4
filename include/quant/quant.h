/* quant.h — everything in libquant. */
#ifndef QUANT_QUANT_H
#define QUANT_QUANT_H

#include "quant/core.h"
#include "quant/gptq.h"
#include "quant/kernels.h"
#include "quant/observer.h"
#include "quant/pack.h"
#include "quant/qerror.h"
#include "quant/qparams.h"

#endif
