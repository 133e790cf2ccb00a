// DOCUMENTATION ONLY: not built in this repository (no Android SDK or Gradle here). It shows
// the Kotlin side an SDK puts around libphonecheck_android.so; the desktop JVM test
// (tests/jvm.rs) binds the same JNI symbols through tests/jvm/.../PhoneCheckNative.java.
//
// Permissions in the app's manifest: INTERNET, ACCESS_NETWORK_STATE, CHANGE_NETWORK_STATE.
package com.idlayr.phonecheck

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.os.Build
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeoutOrNull
import org.json.JSONObject
import kotlin.coroutines.resume

/** The native entry points (src/jni_api.rs). Blocking: never call them on the main thread. */
object PhoneCheckNative {
    init {
        System.loadLibrary("phonecheck_android")
    }

    @JvmStatic
    external fun openWithDataCellular(networkHandle: Long, url: String, debug: Boolean): String

    @JvmStatic
    external fun openWithDataCellularAndAccessToken(
        networkHandle: Long,
        url: String,
        accessToken: String,
        debug: Boolean,
    ): String

    /** The check, and a recording of it in [recordPath] for support (`phonecheck replay`). */
    @JvmStatic
    external fun openWithDataCellularRecording(
        networkHandle: Long,
        url: String,
        accessToken: String?,
        debug: Boolean,
        recordPath: String,
    ): String
}

/** Opens check URLs over mobile data, even while Wi-Fi is the default network. */
class PhoneCheck(context: Context) {
    private val connectivity =
        context.getSystemService(Context.CONNECTIVITY_SERVICE) as ConnectivityManager

    /**
     * Requests the cellular network (waiting at most [networkTimeoutMs]), runs the check over it
     * on an IO thread and returns the SDK envelope. The request is held until the check returns,
     * then released: releasing it early lets Android tear the network down (the check then
     * fails with ENONET in `error_description`).
     */
    suspend fun openWithDataCellular(
        url: String,
        accessToken: String? = null,
        debug: Boolean = false,
        networkTimeoutMs: Int = 5_000,
    ): JSONObject {
        val request = NetworkRequest.Builder()
            .addTransportType(NetworkCapabilities.TRANSPORT_CELLULAR)
            .addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
            .build()
        var callback: ConnectivityManager.NetworkCallback? = null
        try {
            val network: Network? = withTimeoutOrNull(networkTimeoutMs.toLong()) {
                suspendCancellableCoroutine { cont ->
                    val cb = object : ConnectivityManager.NetworkCallback() {
                        override fun onAvailable(network: Network) {
                            if (cont.isActive) cont.resume(network)
                        }

                        override fun onUnavailable() {
                            if (cont.isActive) cont.resume(null)
                        }
                    }
                    callback = cb
                    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.O) {
                        // API 26+: the platform calls onUnavailable after the timeout.
                        connectivity.requestNetwork(request, cb, networkTimeoutMs)
                    } else {
                        // API 23-25: no timeout overload; withTimeoutOrNull bounds the wait.
                        connectivity.requestNetwork(request, cb)
                    }
                }
            }
            if (network == null) {
                // Said here rather than by the library, which would only see handle 0.
                return JSONObject()
                    .put("error", "sdk_no_data_connectivity")
                    .put(
                        "error_description",
                        "no cellular network within $networkTimeoutMs ms: mobile data off, " +
                            "no SIM, airplane mode, or no coverage",
                    )
            }
            val handle = network.networkHandle
            val envelope = withContext(Dispatchers.IO) {
                if (accessToken == null) {
                    PhoneCheckNative.openWithDataCellular(handle, url, debug)
                } else {
                    PhoneCheckNative.openWithDataCellularAndAccessToken(handle, url, accessToken, debug)
                }
            }
            return JSONObject(envelope)
        } finally {
            callback?.let { runCatching { connectivity.unregisterNetworkCallback(it) } }
        }
    }
}
