/* placeholder: the http_client suite is being written */
#include "unit.h"

Suite *
http_client_suite(void)
{
    return suite_create("http_client");
}
