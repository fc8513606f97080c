"""Identity: who the applicant is.

`idcard` reads a PRC resident ID card (front and back) and checks it; `ocr` holds the OCR engine
behind a one-method interface; `render` draws invented cards for tests, the bench and the demo.
Modules import their heavy dependencies (onnxruntime, OpenCV) only when an engine is built.
"""
