/* Private to protocols/jsonrpc/. */
#ifndef WIRE_JSONRPC_INT_H
#define WIRE_JSONRPC_INT_H
#include <wire/jsonrpc.h>
#endif
