#!/usr/bin/env python3
"""TensorBoard event files read with the Python standard library only (no TensorFlow, TensorBoard
or protobuf package), to check what src/io/tfevents.c writes independently of the C side.

    read_tfevents.py FILE

Checks every TFRecord frame (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of
the data; all little-endian), decodes each tensorflow.Event by hand (event.proto, summary.proto:
varints, fixed32/64, length-delimited fields; unknown fields are skipped by wire type), and for
images also checks the PNG (signature, chunk CRCs, IHDR, inflates IDAT and undoes the row filters).
Prints one JSON document:

    {"events": [
      {"wall_time": 1.7e9, "step": 0, "file_version": "brain.Event:2"},
      {"wall_time": ..., "step": 5, "values": [{"tag": "Loss/train", "simple_value": 0.25}]},
      {"wall_time": ..., "step": 5, "values": [{"tag": "...", "image": {"height": 3, "width": 5,
        "colorspace": 3, "png_bytes": 97, "png_width": 5, "png_height": 3, "png_channels": 3,
        "pixels_crc32": 123}}]}]}

(simple_value: a non-finite float as the string "nan", "inf" or "-inf", to stay strict JSON;
pixels_crc32: zlib CRC-32 of the decoded 8-bit pixels, rows top first.) Exit 0 on success, 1 with
a message on stderr for any malformed frame, CRC mismatch or protobuf error.
"""
import json
import math
import struct
import sys
import zlib


def crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class BadFile(Exception):
    pass


def read_varint(buf, pos):
    value = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise BadFile("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise BadFile("varint longer than 10 bytes")
    return value & 0xFFFFFFFFFFFFFFFF, pos


def parse_fields(buf):
    """List of (field number, wire type, value): int for varints, bytes otherwise."""
    fields = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise BadFile("field number 0")
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise BadFile("truncated fixed64")
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            if pos + n > len(buf):
                raise BadFile("length-delimited field %d runs past its message" % field)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            if pos + 4 > len(buf):
                raise BadFile("truncated fixed32")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise BadFile("unsupported wire type %d" % wire)
        fields.append((field, wire, value))
    return fields


def expect_wire(field, wire, want, what):
    if wire != want:
        raise BadFile("%s: wire type %d, expected %d" % (what, wire, want))


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def decode_png(png):
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise BadFile("image: no PNG signature")
    pos = 8
    ihdr = None
    idat = b""
    while True:
        if pos + 8 > len(png):
            raise BadFile("PNG: truncated chunk header")
        n, ctype = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + n]
        if len(body) != n or pos + 12 + n > len(png):
            raise BadFile("PNG: truncated chunk %r" % ctype)
        (crc,) = struct.unpack(">I", png[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(ctype + body) != crc:
            raise BadFile("PNG: bad CRC in chunk %r" % ctype)
        pos += 12 + n
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
    if ihdr is None:
        raise BadFile("PNG: no IHDR")
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 4: 2, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace != 0:
        raise BadFile("PNG: unsupported depth %d / colour type %d / interlace %d"
                      % (depth, ctype, interlace))
    raw = zlib.decompress(idat)
    stride = w * channels
    if len(raw) != h * (stride + 1):
        raise BadFile("PNG: %d bytes of image data, expected %d" % (len(raw), h * (stride + 1)))
    out = bytearray()
    prev = bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            else:
                raise BadFile("PNG: row filter %d" % ftype)
            row[i] = (row[i] + pred) & 0xFF
        out += row
        prev = row
    return w, h, channels, bytes(out)


def decode_image(buf):
    img = {}
    for field, wire, value in parse_fields(buf):
        if field in (1, 2, 3):
            expect_wire(field, wire, 0, "Image field %d" % field)
            img[{1: "height", 2: "width", 3: "colorspace"}[field]] = signed64(value)
        elif field == 4:
            expect_wire(field, wire, 2, "Image.encoded_image_string")
            img["png"] = value
    png = img.pop("png", b"")
    w, h, channels, pixels = decode_png(png)
    img.update(png_bytes=len(png), png_width=w, png_height=h, png_channels=channels,
               pixels_crc32=zlib.crc32(pixels))
    return img


def decode_value(buf):
    value = {}
    for field, wire, v in parse_fields(buf):
        if field == 1:
            expect_wire(field, wire, 2, "Value.tag")
            value["tag"] = v.decode("utf-8")
        elif field == 2:
            expect_wire(field, wire, 5, "Value.simple_value")
            x = struct.unpack("<f", v)[0]
            # strict JSON has no NaN/Infinity: those become the strings "nan", "inf", "-inf"
            value["simple_value"] = x if math.isfinite(x) else repr(x)
        elif field == 4:
            expect_wire(field, wire, 2, "Value.image")
            value["image"] = decode_image(v)
    return value


def decode_event(buf):
    event = {"wall_time": 0.0, "step": 0}
    for field, wire, v in parse_fields(buf):
        if field == 1:
            expect_wire(field, wire, 1, "Event.wall_time")
            event["wall_time"] = struct.unpack("<d", v)[0]
        elif field == 2:
            expect_wire(field, wire, 0, "Event.step")
            event["step"] = signed64(v)
        elif field == 3:
            expect_wire(field, wire, 2, "Event.file_version")
            event["file_version"] = v.decode("utf-8")
        elif field == 5:
            expect_wire(field, wire, 2, "Event.summary")
            values = []
            for sfield, swire, sv in parse_fields(v):
                if sfield == 1:
                    expect_wire(sfield, swire, 2, "Summary.value")
                    values.append(decode_value(sv))
            event["values"] = values
    return event


def read_records(data):
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise BadFile("offset %d: truncated record header" % pos)
        header = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked_crc(header) != hcrc:
            raise BadFile("offset %d: bad length CRC" % pos)
        if pos + 12 + n + 4 > len(data):
            raise BadFile("offset %d: record of %d bytes runs past the end" % (pos, n))
        body = data[pos + 12:pos + 12 + n]
        (dcrc,) = struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])
        if masked_crc(body) != dcrc:
            raise BadFile("offset %d: bad data CRC" % pos)
        yield pos, body
        pos += 16 + n


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: read_tfevents.py FILE\n")
        return 2
    path = sys.argv[1]
    try:
        with open(path, "rb") as f:
            data = f.read()
        events = []
        for pos, body in read_records(data):
            try:
                events.append(decode_event(body))
            except (BadFile, UnicodeDecodeError, struct.error, zlib.error) as e:
                raise BadFile("record at offset %d: %s" % (pos, e))
    except (OSError, BadFile) as e:
        sys.stderr.write("read_tfevents.py: %s: %s\n" % (path, e))
        return 1
    json.dump({"events": events}, sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
