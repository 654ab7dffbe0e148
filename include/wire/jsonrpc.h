/* placeholder: being designed */
#ifndef WIRE_JSONRPC_H
#define WIRE_JSONRPC_H
#include <wire/common.h>
#endif
