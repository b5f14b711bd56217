/* Single include point for Vulkan: volk's function pointers, never the loader's symbols. */
#ifndef VKT_VK_VOLK_INC_H
#define VKT_VK_VOLK_INC_H
#include <volk.h>
#endif
