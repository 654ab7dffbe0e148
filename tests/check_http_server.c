/* placeholder: the http_server suite is being written */
#include "unit.h"

Suite *
http_server_suite(void)
{
    return suite_create("http_server");
}
