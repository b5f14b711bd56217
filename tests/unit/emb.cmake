# Textual-inversion embedding files (io/embedding_*, train/embedding_names): fixtures written by
# torch / the webui's image code (tests/reference/make_embedding_fixtures.py), round trips,
# checksum vectors, hostile files, folder loading.
add_executable(test_embedding ${CMAKE_CURRENT_LIST_DIR}/test_embedding.c)
target_link_libraries(test_embedding PRIVATE vkt_train vkt_io vkt_text vkt_base vkt_testkit m)
vkt_add_test(NAME unit.io.embedding LABEL unit COMMAND test_embedding)

