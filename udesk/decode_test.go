package udesk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const specPage = `{"status":0,"message":"成功","size":1,"total":1,"total_pages":1,"contents":[{
"id":1,"subject":"演示工单","content":"这是您的第一个工单","content_type":"text","platform":"邮件",
"priority":"紧急","status":"solving","user":"测试客户","user_email":"test@sample.com","user_cellphone":null,
"assignee":"测试客服","assignee_id":1,"user_group_id":1,"user_group_name":"售后1组","solving_at":"",
"replied_by":"agent_1","custom_fields":{"TextField_1":"普通文本内容","TextField_2":"多行文本内容1\r\n多行文本内容2",
"TextField_7":"13","SelectField_3":"0,3"},
"created_at":"2016-07-28 20:44:08 +0800","updated_at":"2017-05-04 14:26:18 +0800"}]}`

func TestDecodePageSpecExample(t *testing.T) {
	p, err := DecodePage([]byte(specPage))
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 1 || p.Total != 1 || p.TotalPages != 1 || len(p.Tickets) != 1 {
		t.Fatalf("page = %+v", p)
	}
	tk := p.Tickets[0]
	want := Ticket{ID: 1, Subject: "演示工单", Content: "这是您的第一个工单", ContentType: "text", Platform: "邮件",
		Priority: "紧急", Status: "solving", User: "测试客户", UserEmail: "test@sample.com", Assignee: "测试客服",
		AssigneeID: 1, UserGroupID: 1, UserGroupName: "售后1组", RepliedBy: "agent_1",
		CustomFields: CustomFields{"TextField_1": "普通文本内容", "TextField_2": "多行文本内容1\r\n多行文本内容2",
			"TextField_7": "13", "SelectField_3": "0,3"},
		CreatedAt: "2016-07-28 20:44:08 +0800", UpdatedAt: "2017-05-04 14:26:18 +0800"}
	if !reflect.DeepEqual(tk, want) {
		t.Errorf("ticket =\n%+v\nwant\n%+v", tk, want)
	}
	if string(p.Raw) != specPage {
		t.Error("Page.Raw is not the body as given")
	}
}

func TestDecodePageTolerant(t *testing.T) {
	body := `{"status":"0","message":null,"size":"2","total":2.0,"total_pages":1,"contents":[
{"id":"7","subject":null,"assignee_id":"","user_group_id":3.0,"user_cellphone":13123456789,
 "custom_fields":{"TextField_7":13,"TextField_8":13.33,"Flag":true,"Empty":null,"List":["0","3"],"S":"x"}},
{"id":8,"custom_fields":null}]}`
	p, err := DecodePage([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 2 || p.Total != 2 || len(p.Tickets) != 2 {
		t.Fatalf("page = %+v", p)
	}
	a := p.Tickets[0]
	if a.ID != 7 || a.Subject != "" || a.AssigneeID != 0 || a.UserGroupID != 3 || a.UserCellphone != "13123456789" {
		t.Errorf("ticket 0 = %+v", a)
	}
	wantCF := CustomFields{"TextField_7": "13", "TextField_8": "13.33", "Flag": "true", "Empty": "",
		"List": `["0","3"]`, "S": "x"}
	if !reflect.DeepEqual(a.CustomFields, wantCF) {
		t.Errorf("custom fields = %#v, want %#v", a.CustomFields, wantCF)
	}
	if b := p.Tickets[1]; b.ID != 8 || b.CustomFields != nil {
		t.Errorf("ticket 1 = %+v", b)
	}
}

func TestTicketUnmarshalTolerant(t *testing.T) {
	var tk Ticket
	if err := json.Unmarshal([]byte(`{"id":"12","custom_fields":{"A":1}}`), &tk); err != nil {
		t.Fatal(err)
	}
	if tk.ID != 12 || tk.CustomFields["A"] != "1" {
		t.Errorf("ticket = %+v", tk)
	}
	if err := json.Unmarshal([]byte(`{"id":"twelve"}`), &tk); err == nil {
		t.Error("id \"twelve\" decoded without error")
	}
}

func TestDecodePageErrors(t *testing.T) {
	_, err := DecodePage([]byte(`{"status":1001,"message":"状态错误","error":"per_page should be between 1 and 100"}`))
	var e *Error
	if !errors.As(err, &e) || e.Code != StatusInvalidParameter || e.Message != "状态错误" ||
		e.ErrorText != "per_page should be between 1 and 100" || e.Class != Permanent {
		t.Errorf("DecodePage(status 1001) = %#v", err)
	}
	for _, bad := range []string{``, `<html>`, `{"status":0,"contents":{"id":1}}`, `{"status":0,"contents":[{"id":"x"}]}`} {
		if _, err := DecodePage([]byte(bad)); err == nil {
			t.Errorf("DecodePage(%q) succeeded", bad)
		}
	}
}

const specFields = `{"status":0,"message":"success","ticket_fields":[
{"field_name":"TextField_1","field_label":"单行文本字段","content_type":"text","comment":null,"options":null,"permission":2,"requirment":false},
{"field_name":"SelectField_3","field_label":"多选框字段","content_type":"checkbox","comment":null,
 "options":[{"0":"多选框选项1"},{"1":"多选框选项2"},{"10":"多选框选项11"},{"3":"多选框选项4"}],"permission":2,"requirment":true},
{"field_name":"SelectField_4","field_label":"级联","content_type":"chained_droplist","comment":"c",
 "options":[{"0":"a"}],"permission":"1","requirement":true},
{"field_name":"SelectField_5","field_label":"坏","content_type":"droplist","comment":null,
 "options":[{"0":{"name":"x","children":[]}}],"permission":2,"requirment":null}]}`

func TestFieldsDecodeAndRoundTrip(t *testing.T) {
	fields, err := ReadFields(strings.NewReader(specFields))
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 4 {
		t.Fatalf("got %d fields", len(fields))
	}
	if f := fields[0]; f.Name != "TextField_1" || f.Options != nil || f.RawOptions != nil || f.Permission != 2 {
		t.Errorf("text field = %+v", f)
	}
	wantOpts := []Option{{"0", "多选框选项1"}, {"1", "多选框选项2"}, {"10", "多选框选项11"}, {"3", "多选框选项4"}}
	if f := fields[1]; !reflect.DeepEqual(f.Options, wantOpts) || !f.Required || f.RawOptions != nil {
		t.Errorf("checkbox field = %+v, want options %v in order", f, wantOpts)
	}
	if f := fields[2]; f.Options != nil || string(f.RawOptions) != `[{"0":"a"}]` || f.Permission != 1 || !f.Required || f.Comment != "c" {
		t.Errorf("chained field = %+v, want options kept raw", f)
	}
	if f := fields[3]; f.Options != nil || !strings.Contains(string(f.RawOptions), `"children"`) {
		t.Errorf("undecodable options = %+v, want them raw", f)
	}

	var buf bytes.Buffer
	if err := WriteFields(&buf, fields); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"ticket_fields\": [") || !strings.Contains(buf.String(), `"requirment": true`) {
		t.Errorf("WriteFields wrote:\n%s", buf.String())
	}
	again, err := ReadFields(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, fields) {
		t.Errorf("round trip changed the catalog:\n%+v\n%+v", again, fields)
	}
	// A bare array is accepted too.
	arr, _ := json.Marshal(fields)
	if bare, err := ReadFields(bytes.NewReader(arr)); err != nil || !reflect.DeepEqual(bare, fields) {
		t.Errorf("ReadFields(bare array) = %+v, %v", bare, err)
	}
}

func TestReadFieldsErrors(t *testing.T) {
	for _, bad := range []string{`{"status":2002,"message":"签名错"}`, `{"fields":[]}`, `nope`} {
		if _, err := ReadFields(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadFields(%s) succeeded", bad)
		}
	}
	if _, err := ReadFields(strings.NewReader(`{"status":2002,"message":"签名错"}`)); !strings.Contains(err.Error(), "2002") {
		t.Errorf("error %q does not name the API status", err)
	}
}

func TestFilterDecodeTolerant(t *testing.T) {
	var fs []Filter
	err := json.Unmarshal([]byte(`[{"id":"1","name":"我的","description":null,"active":"true","permission":"All",
"created_at":"2017-03-17 13:30:19 +0800","tickets_url":"https://demo.udesk.cn/api/v1/ticket_filters/2/tickets"}]`), &fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].ID != 1 || !fs[0].Active || fs[0].Description != "" || fs[0].Permission != "All" {
		t.Errorf("filters = %+v", fs)
	}
}

// FuzzDecodeReply feeds arbitrary bodies to every reply decoder and to the
// error classification: none may panic, and a success must have status 0.
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{specPage, specFields, `{"status":1001,"message":"x","error":"y"}`,
		`{"status":0,"ticket_id":"5"}`, `<html></html>`, `{"status":0,"contents":[{"id":1e400}]}`, `null`, `[]`} {
		f.Add([]byte(s), 200)
	}
	f.Add([]byte(`{"status":0}`), 503)
	c, err := NewClient(Config{BaseURL: "http://127.0.0.1:1", Signer: NewMD5Signer("s")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		if p, err := DecodePage(body); err == nil && p == nil {
			t.Fatal("DecodePage: nil page without error")
		}
		_, _ = ReadFields(bytes.NewReader(body))
		var tk Ticket
		_ = json.Unmarshal(body, &tk)
		resp := &http.Response{StatusCode: status%600 + 100, Header: http.Header{"Retry-After": {string(body)}}}
		for _, cl := range []*call{
			{method: "GET", path: "/p", idempotent: true, decode: func(b []byte) (*envelope, error) {
				_, env, err := decodePage(b)
				return env, err
			}},
			{method: "POST", path: "/c", decode: envelopeOnly},
		} {
			e, _ := c.classify(cl, resp, body)
			if e == nil {
				if env := envelopeOf(body); env == nil || env.Status != StatusOK {
					t.Fatalf("classify accepted %q (HTTP %d)", body, resp.StatusCode)
				}
				continue
			}
			_ = e.Error()
			if e.Class == Transient && !cl.idempotent && resp.StatusCode != 429 {
				t.Fatalf("non-idempotent call classed transient: %v", e)
			}
		}
	})
}

// The tolerant path is made from Ticket's declaration: every field of a
// ticket, whatever fields Ticket gains, decodes to the same value through
// it (forced here by an id written as a string) as through the fast path.
func TestTicketTolerantPathCoversEveryField(t *testing.T) {
	var want Ticket
	v := reflect.ValueOf(&want).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("value %d", i))
		case reflect.Int64:
			f.SetInt(int64(100 + i))
		case reflect.Map:
			f.Set(reflect.ValueOf(CustomFields{"TextField_1": "a", "SelectField_2": "0,3"}))
		default:
			t.Fatalf("Ticket.%s: a %s, which the test cannot fill", v.Type().Field(i).Name, f.Kind())
		}
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var fast, tolerant Ticket
	if err := json.Unmarshal(b, &fast); err != nil || !reflect.DeepEqual(fast, want) {
		t.Fatalf("fast path: %+v, %v; want %+v", fast, err, want)
	}
	flexBody := bytes.Replace(b, []byte(fmt.Sprintf(`"id":%d`, want.ID)), []byte(fmt.Sprintf(`"id":"%d"`, want.ID)), 1)
	if bytes.Equal(flexBody, b) {
		t.Fatalf("no id in %s", b)
	}
	if err := json.Unmarshal(flexBody, &tolerant); err != nil || !reflect.DeepEqual(tolerant, want) {
		t.Errorf("tolerant path: %+v, %v; want %+v", tolerant, err, want)
	}
}

// EncodePage writes the listing reply DecodePage reads back: the same
// tickets, a page of its own.
func TestEncodePageRoundTrip(t *testing.T) {
	in := []*Ticket{{ID: 7, Subject: "a", CustomFields: CustomFields{"TextField_1": "x"}}, {ID: 9, Status: "open"}}
	body, err := EncodePage(in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodePage(body)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 2 || p.Total != 2 || p.TotalPages != 1 || len(p.Tickets) != 2 ||
		!reflect.DeepEqual(p.Tickets[0], *in[0]) || !reflect.DeepEqual(p.Tickets[1], *in[1]) {
		t.Errorf("EncodePage then DecodePage = %+v", p)
	}
	body, err = EncodePage(nil)
	if p, err2 := DecodePage(body); err != nil || err2 != nil || p.Total != 0 || len(p.Tickets) != 0 {
		t.Errorf("an empty page: %s, %v, %v", body, err, err2)
	}
}
