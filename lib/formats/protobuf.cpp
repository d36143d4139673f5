#include "formats/protobuf.hpp"

#include <cstring>

#include "core/error.hpp"

namespace alexnet {

void ProtoReader::wrong_wire(const char* expected) const {
    throw Error(where_, "protobuf field " + std::to_string(field_), expected, "wire type " + std::to_string(wire_));
}

uint64_t ProtoReader::raw_varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p_ >= end_) throw Error(where_, "protobuf", "a complete varint", "truncated data");
        const uint8_t b = *p_++;
        v |= uint64_t(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    throw Error(where_, "protobuf", "a varint of at most 10 bytes", "a longer one");
}

bool ProtoReader::next() {
    if (p_ >= end_) return false;
    const uint64_t key = raw_varint();
    field_ = int(key >> 3);
    wire_ = int(key & 7);
    if (field_ <= 0) throw Error(where_, "protobuf", "a field number > 0", "0");
    return true;
}

uint64_t ProtoReader::varint() {
    if (wire_ != 0) wrong_wire("a varint");
    return raw_varint();
}

float ProtoReader::fixed32_float() {
    if (wire_ != 5) wrong_wire("a 32-bit value");
    check(end_ - p_ >= 4, where_, "protobuf", "4 bytes", "truncated data");
    float f;
    std::memcpy(&f, p_, 4);
    p_ += 4;
    return f;
}

std::pair<const uint8_t*, size_t> ProtoReader::span() {
    if (wire_ != 2) wrong_wire("a length-delimited value");
    const uint64_t n = raw_varint();
    if (n > uint64_t(end_ - p_))
        throw Error(where_, "protobuf field " + std::to_string(field_), std::to_string(n) + " bytes",
                    std::to_string(end_ - p_) + " left");
    const uint8_t* at = p_;
    p_ += n;
    return {at, size_t(n)};
}

ProtoReader ProtoReader::message(const std::string& name) {
    const auto [at, n] = span();
    return ProtoReader(at, n, where_ + ": " + name);
}

std::string ProtoReader::bytes() {
    const auto [at, n] = span();
    return std::string(reinterpret_cast<const char*>(at), n);
}

void ProtoReader::skip() {
    switch (wire_) {
        case 0: raw_varint(); return;
        case 1:
            check(end_ - p_ >= 8, where_, "protobuf", "8 bytes", "truncated data");
            p_ += 8;
            return;
        case 2: span(); return;
        case 5:
            check(end_ - p_ >= 4, where_, "protobuf", "4 bytes", "truncated data");
            p_ += 4;
            return;
        default:
            throw Error(where_, "protobuf field " + std::to_string(field_), "wire type 0, 1, 2 or 5",
                        std::to_string(wire_));
    }
}

void ProtoReader::floats(std::vector<float>& out) {
    if (wire_ == 5) {
        out.push_back(fixed32_float());
        return;
    }
    const auto [at, n] = span();
    check(n % 4 == 0, where_, "packed floats", "a multiple of 4 bytes", std::to_string(n));
    const size_t old = out.size();
    out.resize(old + n / 4);
    if (n > 0) std::memcpy(out.data() + old, at, n);  // an empty field: out.data() may be null
}

void ProtoReader::ints(std::vector<int64_t>& out) {
    if (wire_ == 0) {
        out.push_back(int64_t(raw_varint()));
        return;
    }
    const auto [at, n] = span();
    ProtoReader r(at, n, where_);
    while (r.p_ < r.end_) out.push_back(int64_t(r.raw_varint()));
}

}  // namespace alexnet
