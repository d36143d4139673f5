#include "formats/pth.hpp"

#include <cstring>
#include <map>
#include <variant>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/mapped_file.hpp"
#include "formats/safetensors.hpp"
#include "formats/unpickler.hpp"
#include "formats/zip.hpp"

namespace alexnet {

bool looks_like_zip(const std::string& path) { return read_file_head(path, 4) == std::string("PK\x03\x04", 4); }

bool looks_like_pth(const std::string& path) {
    if (looks_like_zip(path)) return true;
    // legacy: PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c little-endian
    static const char magic[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    return read_file_head(path, sizeof magic - 1) == std::string(magic, sizeof magic - 1);
}

namespace {

using pickle::Dict;
using pickle::List;
using pickle::TensorRef;
using pickle::Unpickler;
using pickle::Value;

constexpr size_t kMaxTensorDims = 8;

// A storage's bytes: in place (mapped) or copied (deflated zip entries).
struct StorageBytes {
    const uint8_t* data = nullptr;
    size_t size = 0;
    bool in_place = false;
    std::vector<uint8_t> copy;
};

float element_at(const uint8_t* base, uint64_t i, const std::string& dtype) {
    if (dtype == "F32") {
        float f;
        std::memcpy(&f, base + 4 * i, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    return dtype == "F16" ? half_to_float(h) : bfloat16_to_float(h);
}

// Every element of `t` (offset, shape, strides) lies inside its storage of `storage_numel` elements.
void check_inside_storage(const std::string& path, const std::string& name, const TensorRef& t, uint64_t numel,
                          uint64_t storage_numel) {
    const std::string found = "offset " + std::to_string(t.offset) + ", shape " + shape_string(t.shape) + ", strides " +
                              shape_string(t.stride);
    const std::string expected = "elements inside its storage of " + std::to_string(storage_numel);
    check(t.offset >= 0, path, name, expected, found);
    uint64_t last = uint64_t(t.offset);  // the furthest element: every index at its largest
    for (size_t d = 0; d < t.shape.size(); ++d) {
        check(t.stride[d] >= 0, path, name, "non-negative strides", found);
        if (numel > 0) last = checked_add(last, checked_mul(uint64_t(t.shape[d] - 1), uint64_t(t.stride[d]), path, name), path, name);
    }
    check(numel == 0 || last < storage_numel, path, name, expected, found);
}

// The tensor's elements in row-major order, gathered through its strides (a transposed view saved
// as it is, e.g. after .t()); check_inside_storage first.
std::vector<float> gather(const TensorRef& t, const StorageBytes& s, uint64_t numel) {
    std::vector<float> out(static_cast<size_t>(numel));
    const size_t dims = t.shape.size();
    std::vector<int64_t> index(dims, 0);
    uint64_t at = uint64_t(t.offset);
    for (uint64_t k = 0; k < numel; ++k) {
        out[size_t(k)] = element_at(s.data, at, t.storage.dtype);
        for (size_t d = dims; d-- > 0;) {  // the next index, last dimension fastest
            if (++index[d] < t.shape[d]) {
                at += uint64_t(t.stride[d]);
                break;
            }
            at -= uint64_t(t.shape[d] - 1) * uint64_t(t.stride[d]);
            index[d] = 0;
        }
    }
    return out;
}

// The state dict's tensors from the unpickled root, reading storages through `storage`.
template <class StorageFn>
Weights tensors_from(const std::string& path, const Value* root, StorageFn storage) {
    const Dict* dict = std::get_if<Dict>(&root->v);
    check(dict != nullptr, path, "data.pkl", "a state dict (a dict of tensors)", "another object");
    for (const auto& [k, v] : *dict) {  // a training checkpoint: {"state_dict": {...}, "epoch": ...}
        const std::string* key = std::get_if<std::string>(&k->v);
        if (key && (*key == "state_dict" || *key == "model") && std::holds_alternative<Dict>(v->v)) {
            dict = &std::get<Dict>(v->v);
            break;
        }
    }
    Weights w;
    for (const auto& [k, v] : *dict) {
        const std::string* name = std::get_if<std::string>(&k->v);
        const TensorRef* const* tensor = std::get_if<const TensorRef*>(&v->v);
        const TensorRef* t = tensor ? *tensor : nullptr;
        if (!name || !t) continue;  // non-tensor entries (epoch counters, ...) are not weights
        check(t->stride.size() == t->shape.size() && t->shape.size() <= kMaxTensorDims, path, *name,
              "a size and a stride of at most " + std::to_string(kMaxTensorDims) + " dimensions each",
              shape_string(t->shape) + " and " + shape_string(t->stride));
        const uint64_t numel = checked_numel(t->shape, path, *name);
        bool contiguous = true;
        int64_t expect = 1;
        for (size_t i = t->shape.size(); i-- > 0;) {
            contiguous = contiguous && (t->shape[i] == 1 || t->stride[i] == expect);
            expect *= t->shape[i];  // <= numel: no overflow
        }
        const StorageBytes s = storage(*name, t->storage.key);
        const uint64_t elem = t->storage.dtype == "F32" ? 4 : 2;
        check_inside_storage(path, *name, *t, numel, s.size / elem);
        const uint8_t* p = s.data + uint64_t(t->offset) * elem;
        if (contiguous && t->storage.dtype == "F32" && s.in_place && reinterpret_cast<uintptr_t>(p) % 4 == 0)
            w.add_view(*name, t->shape, reinterpret_cast<const float*>(p), /*mapped=*/true);
        else
            w.add(*name, t->shape, gather(*t, s, numel));
    }
    check(!w.names().empty(), path, "data.pkl", "a state dict with float tensors", "none");
    return w;
}

// torch.save before PyTorch 1.6 (the format of torchvision's alexnet-owt-*.pth downloads):
// pickles of the magic number, the protocol version, system info, the object and the sorted
// storage keys; then per key an 8-byte element count and the raw data.
Weights read_legacy_pth(const std::string& path) {
    const MappedFile file(path);
    Unpickler u(path, file.data(), file.size());
    u.run();  // the magic number (checked by looks_like_pth)
    const Value* version = u.run();
    const int64_t* v = std::get_if<int64_t>(&version->v);
    check(v && *v == 1001, path, "legacy torch.save protocol version", "1001", v ? std::to_string(*v) : "another value");
    u.run();  // sys_info: byte order and type sizes (little-endian files are what this machine reads)
    const Value* root = u.run();
    const Value* keys = u.run();
    const List* key_list = std::get_if<List>(&keys->v);
    check(key_list != nullptr, path, "legacy storage keys", "a list", "another object");
    std::map<std::string, StorageBytes> storages;
    size_t pos = u.position();
    for (const auto& k : *key_list) {
        const std::string* key = std::get_if<std::string>(&k->v);
        check(key != nullptr, path, "legacy storage keys", "strings", "another value");
        auto dtype = u.storage_types().find(*key);
        check(dtype != u.storage_types().end(), path, "storage " + *key, "a storage the object uses", "an unused key");
        check(span_fits(pos, 8, file.size()), path, "storage " + *key, "an element count", "the end of the file");
        uint64_t n;
        std::memcpy(&n, file.data() + pos, 8);
        const uint64_t bytes = checked_mul(n, dtype->second == "F32" ? 4 : 2, path, "storage " + *key);
        check(bytes <= file.size() - pos - 8, path, "storage " + *key, std::to_string(bytes) + " bytes of data",
              std::to_string(file.size() - pos - 8) + " left in the file");
        StorageBytes s;
        s.data = file.data() + pos + 8;
        s.size = size_t(bytes);
        s.in_place = true;
        storages[*key] = s;
        pos += 8 + bytes;
    }
    Weights w = tensors_from(path, root, [&](const std::string& name, const std::string& key) {
        auto it = storages.find(key);
        check(it != storages.end(), path, name, "its storage " + key, "none in the file");
        return it->second;
    });
    w.keep_alive(file.mapping());
    return w;
}

}  // namespace

Weights read_pth(const std::string& path) {
    if (!looks_like_zip(path)) return read_legacy_pth(path);
    ZipArchive zip(path);
    const ZipArchive::Entry* pkl = zip.find_suffix("/data.pkl");
    check(pkl != nullptr, path, "zip entries", "archive/data.pkl (a torch.save file)", "none");
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
    const std::vector<uint8_t> bytes = zip.read(*pkl);
    Unpickler unpickler(path + ": data.pkl", bytes.data(), bytes.size());
    const Value* root = unpickler.run();
    Weights w = tensors_from(path, root, [&](const std::string& name, const std::string& key) {
        const ZipArchive::Entry* data = nullptr;
        for (const auto& e : zip.entries())
            if (e.name == prefix + "data/" + key) data = &e;
        check(data != nullptr, path, name, "its storage " + prefix + "data/" + key, "no such entry");
        StorageBytes s;
        s.size = size_t(data->size);
        s.data = zip.stored(*data);
        s.in_place = s.data != nullptr;
        if (!s.in_place) s.copy = zip.read(*data), s.data = s.copy.data();
        return s;
    });
    w.keep_alive(zip.mapping());
    return w;
}

}  // namespace alexnet