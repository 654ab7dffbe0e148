/* placeholder: being written */
#include "jsonrpc_int.h"
