// Build tool: compiles each Lua source to LuaJIT bytecode with the LuaJIT
// that ebpfrun links, so that the embedded standard library is loaded
// without being parsed on every start.
//   lua_bytecode SOURCE_DIR OUTPUT_DIR FILE...
// writes OUTPUT_DIR/<FILE relative to SOURCE_DIR> (the same name: the
// embedded searcher finds modules by path). Debug information is kept, so
// errors and tracebacks still name stdlib/<file>:<line>.
#include <lua.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

int collect(lua_State*, const void* data, size_t size, void* out) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: lua_bytecode SOURCE_DIR OUTPUT_DIR FILE...\n");
    return 2;
  }
  const std::filesystem::path source_dir = argv[1], output_dir = argv[2];
  lua_State* L = luaL_newstate();
  for (int i = 3; i < argc; ++i) {
    const std::filesystem::path file = argv[i];
    const std::string relative = std::filesystem::relative(file, source_dir).generic_string();
    const std::string chunk = "@stdlib/" + relative;
    // Named as the embedded searcher names source chunks.
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (luaL_loadbuffer(L, text.data(), text.size(), chunk.c_str()) != 0) {
      std::fprintf(stderr, "%s\n", lua_tostring(L, -1));
      return 1;
    }
    std::string bytecode;
    if (lua_dump(L, collect, &bytecode) != 0) {
      std::fprintf(stderr, "cannot dump %s\n", file.c_str());
      return 1;
    }
    lua_pop(L, 1);
    const std::filesystem::path out = output_dir / relative;
    std::filesystem::create_directories(out.parent_path());
    const std::filesystem::path tmp = out.string() + ".tmp";
    {
      std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
      o.write(bytecode.data(), static_cast<std::streamsize>(bytecode.size()));
      if (!o) {
        std::fprintf(stderr, "cannot write %s\n", tmp.c_str());
        return 1;
      }
    }
    std::filesystem::rename(tmp, out);
  }
  lua_close(L);
  return 0;
}
