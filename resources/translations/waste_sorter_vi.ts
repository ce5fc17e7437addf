<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="vi_VN">
<context>
    <name>AppController</name>
    <message>
        <location filename="../../app/qt/controller.py" line="+140"/>
        <source>Ready for the next item</source>
        <translation>Sẵn sàng cho vật phẩm tiếp theo</translation>
    </message>
    <message>
        <location line="+29"/>
        <source>Camera: starting</source>
        <translation>Camera: đang khởi động</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Model: loading</source>
        <translation>Mô hình: đang tải</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Loading model…</source>
        <translation>Đang tải mô hình…</translation>
    </message>
    <message>
        <location line="+46"/>
        <source>Camera: {m}</source>
        <translation>Camera: {m}</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Camera unavailable</source>
        <translation>Không dùng được camera</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>Camera {c:.0f} fps · Model {r:.1f}/s · {l:.0f} ms</source>
        <translation>Camera {c:.0f} khung hình/giây · Mô hình {r:.1f}/giây · {l:.0f} ms</translation>
    </message>
    <message>
        <location line="+54"/>
        <source>Model: loading {id}…</source>
        <translation>Mô hình: đang tải {id}…</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Model: {name} {v}</source>
        <translation>Mô hình: {name} {v}</translation>
    </message>
    <message>
        <location line="+3"/>
        <location line="+87"/>
        <source>Show an item to the camera</source>
        <translation>Hãy đưa vật phẩm vào trước camera</translation>
    </message>
    <message>
        <location line="-78"/>
        <source>Could not load model {id}: {error}. Still using {current}.</source>
        <translation>Không tải được mô hình {id}: {error}. Vẫn đang dùng {current}.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Model: {id}</source>
        <translation>Mô hình: {id}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Could not load model {id}: {error}</source>
        <translation>Không tải được mô hình {id}: {error}</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>No model loaded</source>
        <translation>Chưa tải mô hình nào</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Model: none</source>
        <translation>Mô hình: chưa có</translation>
    </message>
    <message>
        <location line="+5"/>
        <location line="+14"/>
        <source>No model is loaded yet</source>
        <translation>Chưa có mô hình nào được tải</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Still classifying the previous images</source>
        <translation>Vẫn đang phân loại các ảnh trước</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>{n} image(s) classified</source>
        <translation>Đã phân loại {n} ảnh</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>cancelled</source>
        <translation>đã hủy</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{n} could not be read: {first}</source>
        <translation>{n} ảnh không đọc được: {first}</translation>
    </message>
    <message>
        <location line="+39"/>
        <source>Removed {n} history records older than {d} days</source>
        <translation>Đã xóa {n} bản ghi lịch sử cũ hơn {d} ngày</translation>
    </message>
    <message>
        <location line="+84"/>
        <source>Settings not saved: {e}</source>
        <translation>Chưa lưu được cài đặt: {e}</translation>
    </message>
</context>
<context>
    <name>BatchProgress</name>
    <message>
        <location filename="../../app/qt/sources.py" line="+162"/>
        <source>Classifying images…</source>
        <translation>Đang phân loại ảnh…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Cancel</source>
        <translation>Hủy</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Open images</source>
        <translation>Mở ảnh</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Classifying images… {done} of {total}</source>
        <translation>Đang phân loại ảnh… {done}/{total}</translation>
    </message>
</context>
<context>
    <name>BinPresets</name>
    <message>
        <location filename="../../app/qt/i18n.py" line="+67"/>
        <source>Generic recycling</source>
        <translation>Tái chế thông dụng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Vietnam (3 streams + hazardous)</source>
        <translation>Việt Nam (3 nhóm + chất thải nguy hại)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>EU-style (paper, packaging, glass, bio)</source>
        <translation>Kiểu EU (giấy, bao bì, thủy tinh, hữu cơ)</translation>
    </message>
</context>
<context>
    <name>CorrectionDialog</name>
    <message>
        <location filename="../../app/qt/correction_dialog.py" line="+40"/>
        <source>Correct class</source>
        <translation>Sửa loại</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Choose the right class for this record.</source>
        <translation>Chọn loại đúng cho bản ghi này.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Choose the right class for the selected records ({n}).</source>
        <translation>Chọn loại đúng cho các bản ghi đã chọn ({n}).</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The model said {label} ({conf:.0f} %).</source>
        <translation>Mô hình nhận dạng là {label} ({conf:.0f} %).</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>The model&apos;s answer stays in the history beside your correction.</source>
        <translation>Kết quả của mô hình vẫn được giữ trong lịch sử bên cạnh phần sửa của bạn.</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>OK</source>
        <translation>Đồng ý</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Cancel</source>
        <translation>Hủy</translation>
    </message>
</context>
<context>
    <name>HistoryFilterBar</name>
    <message>
        <location filename="../../app/qt/history_filters.py" line="+95"/>
        <source>Period:</source>
        <translation>Khoảng thời gian:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>to</source>
        <translation>đến</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Today</source>
        <translation>Hôm nay</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Last 7 days</source>
        <translation>7 ngày qua</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Last 30 days</source>
        <translation>30 ngày qua</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>All time</source>
        <translation>Toàn bộ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Custom range</source>
        <translation>Khoảng tùy chọn</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Class:</source>
        <translation>Loại:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Bin:</source>
        <translation>Thùng:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Min. confidence:</source>
        <translation>Độ tin cậy tối thiểu:</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Corrected or not</source>
        <translation>Đã sửa hoặc chưa sửa</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Corrected only</source>
        <translation>Chỉ bản ghi đã sửa</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Not corrected</source>
        <translation>Chưa sửa</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Search source, class or note…</source>
        <translation>Tìm theo nguồn, loại hoặc ghi chú…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Clear filters</source>
        <translation>Xóa bộ lọc</translation>
    </message>
    <message>
        <location line="+35"/>
        <source>All classes</source>
        <translation>Tất cả các loại</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>All bins</source>
        <translation>Tất cả các thùng</translation>
    </message>
</context>
<context>
    <name>HistoryPanel</name>
    <message>
        <location filename="../../app/qt/history_panel.py" line="+121"/>
        <location line="+8"/>
        <source>Correct class…</source>
        <translation>Sửa loại…</translation>
    </message>
    <message>
        <location line="-7"/>
        <source>Restore the model&apos;s class</source>
        <translation>Khôi phục loại do mô hình đưa ra</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Mark as right</source>
        <translation>Đánh dấu là đúng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Right ✓</source>
        <translation>Đúng ✓</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The model&apos;s class is right for the selected records (teaching learns it)</source>
        <translation>Loại do mô hình chọn là đúng cho các bản ghi đã chọn (việc dạy sẽ học từ đó)</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+3"/>
        <source>Delete…</source>
        <translation>Xóa…</translation>
    </message>
    <message>
        <location line="-1"/>
        <source>Set the right class for the selected records</source>
        <translation>Đặt loại đúng cho các bản ghi đã chọn</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Delete the selected records</source>
        <translation>Xóa các bản ghi đã chọn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Export CSV…</source>
        <translation>Xuất CSV…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Save the records that match the filters as CSV</source>
        <translation>Lưu các bản ghi khớp với bộ lọc thành tệp CSV</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Export dataset…</source>
        <translation>Xuất bộ dữ liệu…</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Save the thumbnails of corrected records, one folder per class</source>
        <translation>Lưu ảnh thu nhỏ của các bản ghi đã sửa, mỗi loại một thư mục</translation>
    </message>
    <message>
        <location line="+183"/>
        <source>Delete records</source>
        <translation>Xóa bản ghi</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Delete the selected records ({n}) from the history? This cannot be undone.</source>
        <translation>Xóa các bản ghi đã chọn ({n}) khỏi lịch sử? Không thể hoàn tác thao tác này.</translation>
    </message>
    <message>
        <location line="+23"/>
        <source>Export history as CSV</source>
        <translation>Xuất lịch sử ra tệp CSV</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CSV files (*.csv)</source>
        <translation>Tệp CSV (*.csv)</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Records exported: {n}, to {path}</source>
        <translation>Đã xuất {n} bản ghi vào {path}</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Choose where to create the dataset folder</source>
        <translation>Chọn nơi tạo thư mục bộ dữ liệu</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Export dataset</source>
        <translation>Xuất bộ dữ liệu</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>No corrected records match the current filters.</source>
        <translation>Không có bản ghi đã sửa nào khớp với bộ lọc hiện tại.</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Corrected records exported: {n}, to {path}</source>
        <translation>Đã xuất {n} bản ghi đã sửa vào {path}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The history keeps only small thumbnails (about 160 pixels), so the images are thumbnails, not the original photos.</source>
        <translation>Lịch sử chỉ lưu ảnh thu nhỏ (khoảng 160 điểm ảnh), vì vậy các ảnh được xuất là ảnh thu nhỏ, không phải ảnh gốc.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Records without a stored thumbnail (listed in manifest.csv only): {n}</source>
        <translation>Số bản ghi không có ảnh thu nhỏ (chỉ được liệt kê trong manifest.csv): {n}</translation>
    </message>
    <message>
        <location line="+27"/>
        <source>Matching records: {n}</source>
        <translation>Số bản ghi khớp: {n}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>loaded: {n}</source>
        <translation>đã tải: {n}</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>History</source>
        <translation>Lịch sử</translation>
    </message>
</context>
<context>
    <name>HistoryTableModel</name>
    <message>
        <location filename="../../app/qt/history_model.py" line="+219"/>
        <source>Time</source>
        <translation>Thời gian</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Image</source>
        <translation>Ảnh</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Class</source>
        <translation>Loại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Confidence</source>
        <translation>Độ tin cậy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Bin</source>
        <translation>Thùng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Source</source>
        <translation>Nguồn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Model</source>
        <translation>Mô hình</translation>
    </message>
    <message>
        <location line="+54"/>
        <source>Corrected by an operator; the model said {label} ({conf:.0f} %)</source>
        <translation>Đã được nhân viên sửa; mô hình nhận dạng là {label} ({conf:.0f} %)</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Corrected at {time}</source>
        <translation>Sửa lúc {time}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Below the class threshold: the operator was asked to check</source>
        <translation>Dưới ngưỡng của loại: nhân viên đã được yêu cầu kiểm tra</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Model&apos;s bin: {bin}</source>
        <translation>Thùng theo mô hình: {bin}</translation>
    </message>
</context>
<context>
    <name>Labels</name>
    <message>
        <location filename="../../app/qt/i18n.py" line="-31"/>
        <source>cardboard</source>
        <extracomment>Languages the app ships, as (code, name in that language). &quot;system&quot; follows the OS locale.</extracomment>
        <translation>bìa các-tông</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>glass</source>
        <translation>thủy tinh</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>metal</source>
        <translation>kim loại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>paper</source>
        <translation>giấy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>plastic</source>
        <translation>nhựa</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>trash</source>
        <translation>rác</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>carton</source>
        <translation>hộp giấy (carton)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>organic</source>
        <translation>hữu cơ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>textile</source>
        <translation>vải / quần áo</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>battery</source>
        <translation>pin</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>e_waste</source>
        <translation>rác điện tử</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>airplane</source>
        <translation>máy bay</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>automobile</source>
        <translation>ô tô</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>bird</source>
        <translation>chim</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>cat</source>
        <translation>mèo</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>deer</source>
        <translation>hươu</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>dog</source>
        <translation>chó</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>frog</source>
        <translation>ếch</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>horse</source>
        <translation>ngựa</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ship</source>
        <translation>tàu thủy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>truck</source>
        <translation>xe tải</translation>
    </message>
</context>
<context>
    <name>Language</name>
    <message>
        <location line="+97"/>
        <source>System default</source>
        <translation>Theo hệ thống</translation>
    </message>
</context>
<context>
    <name>LiveSession</name>
    <message>
        <location filename="../../app/qt/live_session.py" line="+173"/>
        <source>Nothing to record yet</source>
        <translation>Chưa có gì để ghi</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Already saved #{id}</source>
        <translation>Đã lưu rồi (#{id})</translation>
    </message>
    <message>
        <location line="+22"/>
        <source>Saving…</source>
        <translation>Đang lưu…</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>check</source>
        <translation>kiểm tra</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Saved #{id}: {label} → {bin}</source>
        <translation>Đã lưu #{id}: {label} → {bin}</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>NOT saved: {reason}</source>
        <translation>CHƯA lưu: {reason}</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../../app/qt/main_window.py" line="+178"/>
        <source>Waste Sorter</source>
        <translation>Phân loại rác</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Live</source>
        <translation>Trực tiếp</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>History</source>
        <translation>Lịch sử</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Statistics</source>
        <translation>Thống kê</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Model </source>
        <translation>Mô hình </translation>
    </message>
    <message>
        <location line="+1"/>
        <source> Camera </source>
        <translation> Camera </translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Record</source>
        <translation>Ghi lại</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Record the item shown (Space)</source>
        <translation>Ghi lại vật phẩm đang hiển thị (Space)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Open images…</source>
        <translation>Mở ảnh…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Classify image files (Ctrl+O)</source>
        <translation>Phân loại các tệp ảnh (Ctrl+O)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Open folder…</source>
        <translation>Mở thư mục…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Classify a folder</source>
        <translation>Phân loại một thư mục</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Settings…</source>
        <translation>Cài đặt…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Settings (Ctrl+,)</source>
        <translation>Cài đặt (Ctrl+,)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Model info</source>
        <translation>Thông tin mô hình</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>About the active model</source>
        <translation>Thông tin về mô hình đang dùng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Teach…</source>
        <translation>Dạy…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Teach this station (Ctrl+T)</source>
        <translation>Dạy trạm này (Ctrl+T)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Back to camera</source>
        <translation>Quay lại camera</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Show the live camera again</source>
        <translation>Hiện lại hình ảnh trực tiếp từ camera</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Full screen</source>
        <translation>Toàn màn hình</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Kiosk mode (F11, Esc)</source>
        <translation>Chế độ kiosk (F11, Esc)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Auto record</source>
        <translation>Tự động ghi</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Record each item once held still</source>
        <translation>Ghi mỗi vật phẩm một lần khi được giữ yên</translation>
    </message>
    <message>
        <location line="+50"/>
        <source>Default size</source>
        <translation>Kích thước mặc định</translation>
    </message>
</context>
<context>
    <name>ModelInfoDialog</name>
    <message>
        <location filename="../../app/qt/model_info_dialog.py" line="+56"/>
        <source>Model: {name}</source>
        <translation>Mô hình: {name}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Name</source>
        <translation>Tên</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Id</source>
        <translation>Mã</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Version</source>
        <translation>Phiên bản</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>File</source>
        <translation>Tệp</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Input</source>
        <translation>Đầu vào</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Not given</source>
        <translation>Không có</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The confidence threshold chosen for this model from its measured errors on validation images; Settings use it unless you set your own</source>
        <translation>Ngưỡng độ tin cậy được chọn cho mô hình này dựa trên sai số đo được trên ảnh kiểm định; phần Cài đặt dùng ngưỡng này trừ khi bạn tự đặt ngưỡng riêng</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Recommended threshold</source>
        <translation>Ngưỡng khuyến nghị</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Yes</source>
        <translation>Có</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>No</source>
        <translation>Không</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>A model that detects unfamiliar items answers “Not sure” for things unlike every class it knows, however confident it is</source>
        <translation>Mô hình nhận biết được vật phẩm lạ sẽ trả lời “Chưa chắc chắn” với những thứ không giống loại nào mà nó biết, dù độ tin cậy cao đến đâu</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Detects unfamiliar items</source>
        <translation>Nhận biết vật phẩm lạ</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Item</source>
        <translation>Mục</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Value</source>
        <translation>Giá trị</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Training</source>
        <translation>Huấn luyện</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Metrics</source>
        <translation>Chỉ số</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>No training data or metrics recorded</source>
        <translation>Không có dữ liệu huấn luyện hay chỉ số nào được ghi lại</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Classes ({n})</source>
        <translation>Các loại ({n})</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Training data and metrics</source>
        <translation>Dữ liệu huấn luyện và chỉ số</translation>
    </message>
</context>
<context>
    <name>ResultPanel</name>
    <message>
        <location filename="../../app/qt/result_panel.py" line="+109"/>
        <source>Starting…</source>
        <translation>Đang khởi động…</translation>
    </message>
    <message>
        <location line="+62"/>
        <source>Not sure — please check</source>
        <translation>Chưa chắc chắn — vui lòng kiểm tra</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Best guess: {label} ({percent})</source>
        <translation>Dự đoán khả dĩ nhất: {label} ({percent})</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>{percent} sure</source>
        <translation>Chắc chắn {percent}</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location filename="../../app/qt/settings_dialog.py" line="+233"/>
        <source>Settings</source>
        <translation>Cài đặt</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Camera</source>
        <translation>Camera</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Model</source>
        <translation>Mô hình</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>History</source>
        <translation>Lịch sử</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>General</source>
        <translation>Chung</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Camera:</source>
        <translation>Camera:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Resolution:</source>
        <translation>Độ phân giải:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Sensitivity:</source>
        <translation>Độ nhạy:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Hold still for:</source>
        <translation>Giữ yên trong:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Video file…</source>
        <translation>Tệp video…</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Camera {n}</source>
        <translation>Camera {n}</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Camera default</source>
        <translation>Mặc định của camera</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Capture automatically when an item is held still</source>
        <translation>Tự động chụp khi vật phẩm được giữ yên</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Higher values react to smaller items and smaller changes in the picture</source>
        <translation>Giá trị càng cao càng phản ứng với vật phẩm nhỏ hơn và thay đổi nhỏ hơn trong khung hình</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>s</source>
        <translation>giây</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Model:</source>
        <translation>Mô hình:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Confidence threshold:</source>
        <translation>Ngưỡng độ tin cậy:</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Below this confidence the station asks the operator to check the item</source>
        <translation>Dưới độ tin cậy này, trạm sẽ yêu cầu nhân viên kiểm tra vật phẩm</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The threshold chosen for this model from its measured errors on validation images; it changes with the model</source>
        <translation>Ngưỡng được chọn cho mô hình này dựa trên sai số đo được trên ảnh kiểm định; ngưỡng thay đổi theo mô hình</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Tick a class to give it its own threshold instead of the overall one.</source>
        <translation>Đánh dấu một loại để đặt ngưỡng riêng cho loại đó thay cho ngưỡng chung.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Class</source>
        <translation>Loại</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Threshold</source>
        <translation>Ngưỡng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Pictures kept with each record:</source>
        <translation>Ảnh lưu kèm mỗi bản ghi:</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Nothing (class, confidence and time only)</source>
        <translation>Không lưu ảnh (chỉ loại, độ tin cậy và thời gian)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>A small picture</source>
        <translation>Một ảnh nhỏ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>A small picture and a training crop (to teach the station)</source>
        <translation>Một ảnh nhỏ và một ảnh huấn luyện (để dạy trạm)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Pictures help to check and correct results and to export a dataset; training crops (about 15 KB each) let the station learn from corrected and confirmed records. Choose Nothing where people or personal data may be in view. Records, with their pictures, are deleted after the time below.</source>
        <translation>Ảnh giúp kiểm tra, sửa kết quả và xuất bộ dữ liệu; ảnh huấn luyện (khoảng 15 KB mỗi ảnh) cho phép trạm học từ các bản ghi đã sửa và đã xác nhận. Chọn &quot;Không lưu ảnh&quot; nếu có thể lọt vào khung hình người hoặc dữ liệu cá nhân. Bản ghi, cùng ảnh của chúng, sẽ bị xóa sau thời gian dưới đây.</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Delete records after:</source>
        <translation>Xóa bản ghi sau:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>days</source>
        <translation>ngày</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Keep forever</source>
        <translation>Giữ vĩnh viễn</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Bin rules:</source>
        <translation>Quy tắc thùng rác:</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Which bins the station sorts into; names follow the language chosen below</source>
        <translation>Các thùng mà trạm phân loại vào; tên thùng theo ngôn ngữ chọn bên dưới</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Bin rules file:</source>
        <translation>Tệp quy tắc thùng rác:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Default (bins.json in the data folder)</source>
        <translation>Mặc định (bins.json trong thư mục dữ liệu)</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Browse…</source>
        <translation>Duyệt…</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>A JSON file that maps classes to bins; it is merged over the chosen rules.</source>
        <translation>Tệp JSON gán các loại vào thùng; tệp này được gộp lên quy tắc đã chọn.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Language:</source>
        <translation>Ngôn ngữ:</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>OK</source>
        <translation>Đồng ý</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Cancel</source>
        <translation>Hủy</translation>
    </message>
    <message>
        <location line="+34"/>
        <source>Use the model&apos;s recommendation ({value} %)</source>
        <translation>Dùng mức khuyến nghị của mô hình ({value} %)</translation>
    </message>
    <message>
        <location line="+121"/>
        <source>Choose a camera or type the path of a video file.</source>
        <translation>Hãy chọn một camera hoặc nhập đường dẫn của một tệp video.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The model “{model}” cannot be used: {error}</source>
        <translation>Không thể dùng mô hình “{model}”: {error}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>not found</source>
        <translation>không tìm thấy</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>The bin rules file {path} does not exist.</source>
        <translation>Tệp quy tắc thùng rác {path} không tồn tại.</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>The bin rules file cannot be used: {error}</source>
        <translation>Không thể dùng tệp quy tắc thùng rác: {error}</translation>
    </message>
    <message>
        <location line="+27"/>
        <source>Choose a video file</source>
        <translation>Chọn tệp video</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)</source>
        <translation>Video (*.mp4 *.avi *.mkv *.mov *.webm);;Tất cả các tệp (*)</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Choose a bin rules file</source>
        <translation>Chọn tệp quy tắc thùng rác</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>JSON files (*.json)</source>
        <translation>Tệp JSON (*.json)</translation>
    </message>
</context>
<context>
    <name>Sources</name>
    <message>
        <location filename="../../app/qt/sources.py" line="-145"/>
        <source>Images ({patterns})</source>
        <translation>Ảnh ({patterns})</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>All files (*)</source>
        <translation>Tất cả các tệp (*)</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Open images</source>
        <translation>Mở ảnh</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Open a folder of images</source>
        <translation>Mở thư mục ảnh</translation>
    </message>
</context>
<context>
    <name>StatsPanel</name>
    <message>
        <location filename="../../app/qt/stats_panel.py" line="+121"/>
        <source>Period:</source>
        <translation>Khoảng thời gian:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>to</source>
        <translation>đến</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Today</source>
        <translation>Hôm nay</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>This week</source>
        <translation>Tuần này</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>This month</source>
        <translation>Tháng này</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Custom range</source>
        <translation>Khoảng tùy chọn</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Export PNG…</source>
        <translation>Xuất PNG…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Save the charts and numbers as an image</source>
        <translation>Lưu biểu đồ và số liệu thành ảnh</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Export CSV…</source>
        <translation>Xuất CSV…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Save the numbers as a CSV file</source>
        <translation>Lưu số liệu thành tệp CSV</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Items sorted</source>
        <translation>Số vật phẩm đã phân loại</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Mean confidence</source>
        <translation>Độ tin cậy trung bình</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Unsure rate</source>
        <translation>Tỷ lệ chưa chắc chắn</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Share of items below their class threshold, which the station asked to check</source>
        <translation>Tỷ lệ vật phẩm dưới ngưỡng của loại, mà trạm đã yêu cầu kiểm tra</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Correction rate (operators&apos; estimate of the model&apos;s error rate)</source>
        <translation>Tỷ lệ được sửa (ước tính của nhân viên về tỷ lệ lỗi của mô hình)</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Share of items an operator corrected: the operators&apos; estimate of the model&apos;s error rate (items nobody checked count as right)</source>
        <translation>Tỷ lệ vật phẩm được nhân viên sửa: ước tính của nhân viên về tỷ lệ lỗi của mô hình (vật phẩm không ai kiểm tra được tính là đúng)</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>No items were sorted in this period.</source>
        <translation>Không có vật phẩm nào được phân loại trong khoảng thời gian này.</translation>
    </message>
    <message>
        <location line="+60"/>
        <source>other</source>
        <translation>khác</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Items by class</source>
        <translation>Vật phẩm theo loại</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Items by bin</source>
        <translation>Vật phẩm theo thùng</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Items per hour</source>
        <translation>Vật phẩm mỗi giờ</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Items per day</source>
        <translation>Vật phẩm mỗi ngày</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Export charts as PNG</source>
        <translation>Xuất biểu đồ ra tệp PNG</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>PNG images (*.png)</source>
        <translation>Ảnh PNG (*.png)</translation>
    </message>
    <message>
        <location line="+4"/>
        <location line="+17"/>
        <source>Statistics</source>
        <translation>Thống kê</translation>
    </message>
    <message>
        <location line="-17"/>
        <source>Could not save {path}</source>
        <translation>Không lưu được {path}</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Export statistics as CSV</source>
        <translation>Xuất thống kê ra tệp CSV</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>CSV files (*.csv)</source>
        <translation>Tệp CSV (*.csv)</translation>
    </message>
</context>
<context>
    <name>TeachDialog</name>
    <message>
        <location filename="../../app/qt/teach_dialog.py" line="+152"/>
        <source>Teach this station</source>
        <translation>Dạy trạm này</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The station learns from examples: records you corrected or marked as right in the history, and folders of photos (one subfolder per class). New classes are welcome; give each a bin. About 20 examples per class teach well.</source>
        <translation>Trạm học từ các ví dụ: những bản ghi bạn đã sửa hoặc đánh dấu là đúng trong lịch sử, và các thư mục ảnh (mỗi loại một thư mục con). Có thể thêm loại mới; hãy chọn thùng cho từng loại. Khoảng 20 ví dụ mỗi loại là dạy tốt.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Class</source>
        <translation>Loại</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Examples</source>
        <translation>Ví dụ</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Bin</source>
        <translation>Thùng</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Use corrected and confirmed history records</source>
        <translation>Dùng các bản ghi đã sửa và đã xác nhận trong lịch sử</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Add a folder of examples…</source>
        <translation>Thêm thư mục ví dụ…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Name of the taught model:</source>
        <translation>Tên của mô hình được dạy:</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Teach</source>
        <translation>Dạy</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Use it at this station</source>
        <translation>Dùng cho trạm này</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Discard</source>
        <translation>Bỏ đi</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Roll back to the previous model</source>
        <translation>Quay lại mô hình trước</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Close</source>
        <translation>Đóng</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>History not readable: {e}</source>
        <translation>Không đọc được lịch sử: {e}</translation>
    </message>
    <message>
        <location line="+21"/>
        <source>— choose a bin —</source>
        <translation>— chọn thùng —</translation>
    </message>
    <message>
        <location line="+26"/>
        <source>Folder of examples</source>
        <translation>Thư mục ví dụ</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Class of these photos</source>
        <translation>Loại của các ảnh này</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Class name:</source>
        <translation>Tên loại:</translation>
    </message>
    <message>
        <location line="+29"/>
        <source>Teaching…</source>
        <translation>Đang dạy…</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>Reading examples {d} of {t}…</source>
        <translation>Đang đọc ví dụ {d}/{t}…</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Fitting…</source>
        <translation>Đang khớp mô hình…</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Taught {id} from {n} examples in {s:.0f} s.</source>
        <translation>Đã dạy {id} từ {n} ví dụ trong {s:.0f} giây.</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Right on {a:.0%} of the examples (cross-validated); the current model {m}: {b:.0%}.</source>
        <translation>Đúng {a:.0%} số ví dụ (kiểm định chéo); mô hình hiện tại {m}: {b:.0%}.</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Weaker classes (add examples): {c}</source>
        <translation>Các loại còn yếu (hãy thêm ví dụ): {c}</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Teaching failed: {e}</source>
        <translation>Dạy không thành công: {e}</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>This station now uses {id}.</source>
        <translation>Trạm này giờ dùng {id}.</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>No bin for {c}: these items show &apos;Not sure&apos;.</source>
        <translation>Chưa có thùng cho {c}: các vật này sẽ hiện &quot;Chưa chắc&quot;.</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Discarded {id}.</source>
        <translation>Đã bỏ {id}.</translation>
    </message>
</context>
<context>
    <name>window</name>
    <message>
        <location filename="../../app/qt/application.py" line="+238"/>
        <source>The history database was damaged. It was moved to {path} and a new one was started.</source>
        <translation>Cơ sở dữ liệu lịch sử bị hỏng. Tệp cũ đã được chuyển sang {path} và một cơ sở dữ liệu mới đã được tạo.</translation>
    </message>
</context>
</TS>
