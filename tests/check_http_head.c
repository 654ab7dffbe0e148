/* placeholder: the http_head suite is being written */
#include "unit.h"

Suite *
http_head_suite(void)
{
    return suite_create("http_head");
}
