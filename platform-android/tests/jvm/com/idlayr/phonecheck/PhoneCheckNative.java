// The JVM shape of the Kotlin `object PhoneCheckNative` in docs/PhoneCheck.kt (its
// `@JvmStatic external fun`s are static native methods), so the desktop test binds the same
// JNI symbols an app does.
package com.idlayr.phonecheck;

public final class PhoneCheckNative {
    private PhoneCheckNative() {}

    public static native String openWithDataCellular(long networkHandle, String url, boolean debug);

    public static native String openWithDataCellularAndAccessToken(
            long networkHandle, String url, String accessToken, boolean debug);

    public static native String openWithDataCellularRecording(
            long networkHandle, String url, String accessToken, boolean debug, String recordPath);
}
