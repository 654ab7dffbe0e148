/* placeholder */
#include "unit.h"

Suite *
content_length_suite(void)
{
    return suite_create("content_length");
}
