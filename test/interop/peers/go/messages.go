// Hand-written protobuf encoding of the two OtBooking messages
// (proto/otbooking/ot_booking.proto), so the peer builds offline from
// Debian's packages without protoc. Both types implement the
// github.com/golang/protobuf v1 proto.Message, proto.Marshaler and
// proto.Unmarshaler interfaces, which grpc-go's default "proto" codec uses
// directly.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BookingRequest is otbooking.BookingRequest.
type BookingRequest struct {
	PatientID   string // field 1
	DoctorID    string // field 2
	Description string // field 3
}

// BookingResponse is otbooking.BookingResponse.
type BookingResponse struct {
	BookingDate string // field 1
	Condition   string // field 2
}

func (m *BookingRequest) Reset() { *m = BookingRequest{} }
func (m *BookingRequest) String() string {
	return fmt.Sprintf("BookingRequest{%d bytes}", len(m.Description))
}
func (*BookingRequest) ProtoMessage() {}

func (m *BookingResponse) Reset() { *m = BookingResponse{} }
func (m *BookingResponse) String() string {
	return fmt.Sprintf("BookingResponse{%d bytes}", len(m.Condition))
}
func (*BookingResponse) ProtoMessage() {}

// appendString appends a length-delimited string field (wire type 2);
// proto3 omits empty strings.
func appendString(b []byte, field uint64, s string) []byte {
	if s == "" {
		return b
	}
	b = binary.AppendUvarint(b, field<<3|2)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (m *BookingRequest) Marshal() ([]byte, error) {
	b := make([]byte, 0, len(m.PatientID)+len(m.DoctorID)+len(m.Description)+32)
	b = appendString(b, 1, m.PatientID)
	b = appendString(b, 2, m.DoctorID)
	b = appendString(b, 3, m.Description)
	return b, nil
}

func (m *BookingResponse) Marshal() ([]byte, error) {
	b := make([]byte, 0, len(m.BookingDate)+len(m.Condition)+32)
	b = appendString(b, 1, m.BookingDate)
	b = appendString(b, 2, m.Condition)
	return b, nil
}

var errTruncated = errors.New("protobuf: truncated message")

// parse walks the fields of b, calling str for each length-delimited field
// and skipping every other wire type (unknown fields are ignored, as proto3
// requires).
func parse(b []byte, str func(field uint64, v []byte)) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errTruncated
		}
		b = b[n:]
		field, wt := tag>>3, tag&7
		switch wt {
		case 0: // varint
			_, n = binary.Uvarint(b)
			if n <= 0 {
				return errTruncated
			}
			b = b[n:]
		case 1: // fixed64
			if len(b) < 8 {
				return errTruncated
			}
			b = b[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errTruncated
			}
			str(field, b[n:n+int(l)])
			b = b[n+int(l):]
		case 5: // fixed32
			if len(b) < 4 {
				return errTruncated
			}
			b = b[4:]
		default:
			return fmt.Errorf("protobuf: unsupported wire type %d", wt)
		}
	}
	return nil
}

func (m *BookingRequest) Unmarshal(b []byte) error {
	*m = BookingRequest{}
	return parse(b, func(f uint64, v []byte) {
		switch f {
		case 1:
			m.PatientID = string(v)
		case 2:
			m.DoctorID = string(v)
		case 3:
			m.Description = string(v)
		}
	})
}

func (m *BookingResponse) Unmarshal(b []byte) error {
	*m = BookingResponse{}
	return parse(b, func(f uint64, v []byte) {
		switch f {
		case 1:
			m.BookingDate = string(v)
		case 2:
			m.Condition = string(v)
		}
	})
}
