# Finds vktrain's dependencies. All come from Debian packages; nothing is vendored:
#   libvulkan-dev          Vulkan headers (the loader is reached through volk at run time)
#   libvulkan-volk-dev     /usr/include/volk.{h,c}: we compile volk.c into the vk library
#   glslang-tools          glslangValidator compiles shaders/ at build time
#   spirv-tools            spirv-val validates every module at build time
#   libstb-dev             stb_image / stb_image_write / stb_image_resize (header-only)
#   libcjson-dev           safetensors headers, JSON output, --config files
#   zlib1g-dev             zip members (deflate) and CRC32
#   libwebp-dev            WebP images and WebP-encoded embeddings
#   libutf8proc-dev        Unicode categories, case mapping, NFC for the CLIP tokenizer
#   nettle-dev             sha256 (webui hashes)
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

find_path(VULKAN_INCLUDE_DIR vulkan/vulkan.h REQUIRED)
find_path(VOLK_DIR volk.c PATHS /usr/include /usr/local/include REQUIRED)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
find_program(GLSLANG_VALIDATOR glslangValidator REQUIRED)
find_program(SPIRV_VAL spirv-val REQUIRED)

pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(WEBP REQUIRED IMPORTED_TARGET libwebp)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(NETTLE REQUIRED IMPORTED_TARGET nettle)

# volk: compiled from Debian's copy, loads libvulkan.so.1 at run time.
add_library(vkt_volk STATIC ${VOLK_DIR}/volk.c)
target_include_directories(vkt_volk SYSTEM PUBLIC ${VOLK_DIR} ${VULKAN_INCLUDE_DIR})
target_compile_options(vkt_volk PRIVATE -w)
target_link_libraries(vkt_volk PUBLIC ${CMAKE_DL_LIBS})

# Debian's libstb-dev ships the implementations compiled (libstb); we only include headers.
pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)
add_library(vkt_stb INTERFACE)
target_include_directories(vkt_stb SYSTEM INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(vkt_stb INTERFACE PkgConfig::STB)
