/* placeholder: being written */
#include <wire/framing.h>
