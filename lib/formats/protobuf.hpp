#pragma once
// The protobuf wire format, read by hand (Caffe's .caffemodel and ONNX files are protobuf
// messages; the schemas we need are a few fields each). Every length is checked.
#include <cstdint>
#include <string>
#include <vector>

namespace alexnet {

class ProtoReader {
public:
    ProtoReader(const uint8_t* data, size_t size, std::string where) : p_(data), end_(data + size), where_(std::move(where)) {}
    bool next();  // advances to the next field; false at the end
    int field() const { return field_; }
    int wire() const { return wire_; }
    uint64_t varint();                          // wire 0
    float fixed32_float();                      // wire 5
    ProtoReader message(const std::string& name);  // wire 2, as a nested message
    std::string bytes();                        // wire 2
    std::pair<const uint8_t*, size_t> span();   // wire 2, in place
    void skip();                                // any wire type
    // A repeated float field, packed (wire 2) or one value (wire 5): appended to `out`.
    void floats(std::vector<float>& out);
    // A repeated integer field, packed or one varint.
    void ints(std::vector<int64_t>& out);
    const std::string& where() const { return where_; }

private:
    uint64_t raw_varint();
    [[noreturn]] void wrong_wire(const char* expected) const;
    const uint8_t* p_;
    const uint8_t* end_;
    std::string where_;
    int field_ = 0, wire_ = 0;
};

}  // namespace alexnet
