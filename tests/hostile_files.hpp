#pragma once
// Small writers for hand-made files (tests/test_hostile.cpp): protobuf fields, pickle opcodes,
// stored zip archives and raw safetensors, so each malformed file is built in the test itself.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace alexnet::test {

// --- protobuf wire format ----------------------------------------------------------------------
inline std::string pb_varint(uint64_t v) {
    std::string out;
    do {
        const uint8_t b = v & 0x7f;
        v >>= 7;
        out += char(v ? b | 0x80 : b);
    } while (v);
    return out;
}
inline std::string pb_key(int field, int wire) { return pb_varint(uint64_t(field) << 3 | unsigned(wire)); }
inline std::string pb_bytes(int field, const std::string& payload) {
    return pb_key(field, 2) + pb_varint(payload.size()) + payload;
}
inline std::string pb_int(int field, uint64_t v) { return pb_key(field, 0) + pb_varint(v); }

// --- pickle (protocol 2) ---------------------------------------------------------------------------
struct Pickle {
    std::string bytes = "\x80\x02";
    Pickle& op(const std::string& s) { return bytes += s, *this; }
    Pickle& global(const std::string& module, const std::string& name) { return op("c" + module + "\n" + name + "\n"); }
    Pickle& text(const std::string& s) {  // BINUNICODE
        std::string len(4, '\0');
        for (int i = 0; i < 4; ++i) len[size_t(i)] = char(s.size() >> (8 * i));
        return op("X" + len + s);
    }
    Pickle& integer(int64_t v) {  // LONG1 with 8 bytes: any int64
        std::string b = "\x8a\x08";
        for (int i = 0; i < 8; ++i) b += char(uint64_t(v) >> (8 * i));
        return op(b);
    }
    Pickle& ints(const std::vector<int64_t>& v) {  // a tuple
        op("(");
        for (int64_t x : v) integer(x);
        return op("t");
    }
    // OrderedDict([(name, tensor)]) of one float tensor in storage "0" of `storage_numel` floats.
    static Pickle state_dict(const std::string& name, int64_t storage_numel, int64_t offset,
                             const std::vector<int64_t>& shape, const std::vector<int64_t>& stride) {
        Pickle p;
        p.global("collections", "OrderedDict").op(")R").text(name);
        p.global("torch._utils", "_rebuild_tensor_v2").op("(");
        p.op("(").text("storage").global("torch", "FloatStorage").text("0").text("cpu").integer(storage_numel).op("tQ");
        p.integer(offset).ints(shape).ints(stride).op("\x89").op("tR");
        return p.op("s.");
    }
};

// --- zip archives (stored entries) -------------------------------------------------------------------
inline std::string le_bytes(uint64_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += char(v >> (8 * i));
    return s;
}

struct ZipEntry {
    std::string name, data;
};

// A zip of stored entries with a central directory and end record, as torch.save writes one.
inline std::string stored_zip(const std::vector<ZipEntry>& entries) {
    std::string out, central;
    for (const auto& e : entries) {
        const uint64_t local = out.size();
        out += le_bytes(0x04034b50, 4) + le_bytes(20, 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 4) +
               le_bytes(0, 4) + le_bytes(e.data.size(), 4) + le_bytes(e.data.size(), 4) + le_bytes(e.name.size(), 2) +
               le_bytes(0, 2) + e.name + e.data;
        central += le_bytes(0x02014b50, 4) + le_bytes(20, 2) + le_bytes(20, 2) + le_bytes(0, 2) + le_bytes(0, 2) +
                   le_bytes(0, 4) + le_bytes(0, 4) + le_bytes(e.data.size(), 4) + le_bytes(e.data.size(), 4) +
                   le_bytes(e.name.size(), 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 2) + le_bytes(0, 2) +
                   le_bytes(0, 4) + le_bytes(local, 4) + e.name;
    }
    const uint64_t cd = out.size();
    return out + central + le_bytes(0x06054b50, 4) + le_bytes(0, 4) + le_bytes(entries.size(), 2) +
           le_bytes(entries.size(), 2) + le_bytes(central.size(), 4) + le_bytes(cd, 4) + le_bytes(0, 2);
}

// --- safetensors ----------------------------------------------------------------------------------------
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
    return le_bytes(header.size(), 8) + header + data;
}

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace alexnet::test
