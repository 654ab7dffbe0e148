/* placeholder: being written */
#include "http_int.h"
