/* tincan: the whole public API. Each module's header documents itself. */
#ifndef TINCAN_H
#define TINCAN_H

#include "tincan/base.h"
#include "tincan/io.h"
#include "tincan/http.h"
#include "tincan/ws.h"
#include "tincan/json.h"
#include "tincan/sio.h"
#include "tincan/stun.h"

#endif
