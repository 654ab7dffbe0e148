/* placeholder */
#include "unit.h"

Suite *
jsonrpc_suite(void)
{
    return suite_create("jsonrpc");
}
