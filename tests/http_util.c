/* placeholder */
#include "http_util.h"
extern int http_util_placeholder;
int http_util_placeholder;
