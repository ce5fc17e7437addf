"""Training module: TensorFlow/Keras transfer learning that exports ONNX models for the app."""
