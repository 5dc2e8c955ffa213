// Writes seed inputs for the parse fuzzer from rtmon recordings (tests/fixtures/netlink/*.rtmon),
// read with the same RtmonReader the replay backend uses: each batch (a datagram, or a whole dump)
// as one file, and each message of it as another.
//
//   fuzz_seed_extractor OUT_DIR FIXTURE.rtmon...
#include <linux/netlink.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/rtmon_file.h"

namespace {

void writeFile(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

std::string baseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find('.');
  return name.substr(0, dot);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT_DIR FIXTURE.rtmon...\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  for (int i = 2; i < argc; ++i) {
    auto reader = netmon::detail::RtmonReader::open(argv[i]);
    if (!reader) {
      std::fprintf(stderr, "%s: %s\n", argv[i], reader.error().message().c_str());
      return 1;
    }
    const std::string name = baseName(argv[i]);
    int batch_number = 0;
    while (auto batch = (*reader)->nextBatch()) {
      const std::string prefix = out + "/" + name + "-" + std::to_string(batch_number++);
      writeFile(prefix, batch->data(), batch->size());
      size_t offset = 0;
      int message_number = 0;
      while (offset + sizeof(nlmsghdr) <= batch->size()) {
        nlmsghdr header;
        std::memcpy(&header, batch->data() + offset, sizeof header);
        if (header.nlmsg_len < sizeof header || offset + header.nlmsg_len > batch->size()) break;
        writeFile(prefix + "-" + std::to_string(message_number++), batch->data() + offset, header.nlmsg_len);
        offset += NLMSG_ALIGN(header.nlmsg_len);
      }
    }
  }
  return 0;
}
