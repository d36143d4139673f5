// write_pth: the pickle torch.save makes of a state dict, opcode by opcode (protocol 2), and the
// zip around it.
#include <cstdint>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "formats/pth.hpp"
#include "formats/zip.hpp"

namespace alexnet {

namespace {

constexpr const char* kArchive = "archive/";  // torch.load takes the first entry's folder, any name
constexpr const char* kSerializationVersion = "3\n";

// The few protocol-2 opcodes a state dict needs (the ones pickle.py writes for it).
class Pickler {
public:
    std::string bytes;

    void proto() { bytes += "\x80\x02"; }
    void global(const std::string& module, const std::string& name) { bytes += "c" + module + "\n" + name + "\n"; }
    void mark() { bytes += '('; }
    void tuple() { bytes += 't'; }
    void empty_tuple() { bytes += ')'; }
    void reduce() { bytes += 'R'; }
    void binpersid() { bytes += 'Q'; }
    void setitems() { bytes += 'u'; }
    void newfalse() { bytes += '\x89'; }
    void stop() { bytes += '.'; }
    void text(const std::string& s) {  // BINUNICODE
        bytes += 'X';
        put(s.size(), 4);
        bytes += s;
    }
    void integer(int64_t v) {
        if (v >= 0 && v < 0x100) {
            bytes += 'K';  // BININT1
            put(uint64_t(v), 1);
        } else if (v >= 0 && v < 0x10000) {
            bytes += 'M';  // BININT2
            put(uint64_t(v), 2);
        } else if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max()) {
            bytes += 'J';  // BININT
            put(uint64_t(uint32_t(int32_t(v))), 4);
        } else {
            bytes += "\x8a\x08";  // LONG1 of 8 bytes
            put(uint64_t(v), 8);
        }
    }
    void ints(const std::vector<int64_t>& values) {  // a tuple
        mark();
        for (int64_t v : values) integer(v);
        tuple();
    }

private:
    void put(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) bytes += char(uint8_t(v >> (8 * i)));
    }
};

// `name`: torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) over
// the persistent id ('storage', torch.FloatStorage, key, 'cpu', numel).
void pickle_tensor(Pickler& p, const std::string& name, const Tensor& t, const std::string& key) {
    p.text(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.mark();
    p.mark();
    p.text("storage");
    p.global("torch", "FloatStorage");
    p.text(key);
    p.text("cpu");
    p.integer(t.numel());
    p.tuple();
    p.binpersid();
    p.integer(0);  // storage offset
    p.ints(t.shape);
    std::vector<int64_t> stride(t.shape.size());
    int64_t step = 1;
    for (size_t d = t.shape.size(); d-- > 0;) stride[d] = step, step *= t.shape[d];
    p.ints(stride);
    p.newfalse();  // requires_grad
    p.global("collections", "OrderedDict");  // backward hooks: none
    p.empty_tuple();
    p.reduce();
    p.tuple();
    p.reduce();
}

}  // namespace

void write_pth(const std::string& path, const Weights& weights, const std::vector<std::string>& names) {
    Pickler p;
    p.proto();
    p.global("collections", "OrderedDict");
    p.empty_tuple();
    p.reduce();
    p.mark();
    for (size_t i = 0; i < names.size(); ++i) pickle_tensor(p, names[i], weights.at(names[i]), std::to_string(i));
    p.setitems();
    p.stop();

    const std::string prefix = kArchive;
    ZipWriter zip(path);
    zip.add(prefix + "data.pkl", p.bytes);
    zip.add(prefix + "byteorder", std::string("little"));
    for (size_t i = 0; i < names.size(); ++i) {
        const Tensor& t = weights.at(names[i]);  // floats() throws Error naming an s8 tensor
        zip.add(prefix + "data/" + std::to_string(i), t.floats(), t.bytes());
    }
    zip.add(prefix + "version", std::string(kSerializationVersion));
    zip.commit();
}

}  // namespace alexnet
