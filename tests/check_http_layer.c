/* placeholder: the http_layer suite is being written */
#include "unit.h"

Suite *
http_layer_suite(void)
{
    return suite_create("http_layer");
}
